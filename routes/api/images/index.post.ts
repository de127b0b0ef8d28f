import { defineEventHandler, setResponseStatus } from 'h3'
import { ImageCreate } from '#schemas/images'
import { useContext } from '#server/context'
import { createImage } from '#server/images/index'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ImageCreate)
  const created = await createImage(await useContext(), actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
