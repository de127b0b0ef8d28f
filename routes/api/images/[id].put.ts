import { defineEventHandler } from 'h3'
import { ImageUpdate } from '#schemas/images'
import { useContext } from '#server/context'
import { updateImage } from '#server/images/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, ImageUpdate)
  return updateImage(await useContext(), actorOf(event), id, input)
})
