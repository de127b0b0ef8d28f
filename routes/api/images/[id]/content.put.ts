import { defineEventHandler, setResponseHeader, setResponseStatus } from 'h3'
import { ImageName } from '#schemas/images'
import { useContext } from '#server/context'
import { uploadImage } from '#server/images/upload'
import { readId } from '#server/http/input'
import { longBody } from '#server/http/long-body'
import { actorOf } from '#server/http/session'

// The body is the image's bytes (application/octet-stream), streamed to disk.
export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', ImageName)
  const req = longBody(event)
  const length = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length'])
  try {
    const { image, created } = await uploadImage(await useContext(), actorOf(event), id, req, length)
    setResponseStatus(event, created ? 201 : 200)
    return image
  } catch (err) {
    // Refused before the body was all read: close rather than drain what may be gigabytes.
    if (!req.complete) setResponseHeader(event, 'connection', 'close')
    throw err
  }
})
