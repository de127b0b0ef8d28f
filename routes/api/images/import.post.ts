import { defineEventHandler, setResponseStatus } from 'h3'
import { ImageImport } from '#schemas/images'
import { useContext } from '#server/context'
import { importImage } from '#server/images/import'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, ImageImport)
  const created = await importImage(await useContext(), actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
