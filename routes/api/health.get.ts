import { defineEventHandler, setResponseStatus } from 'h3'
import { useContext } from '#server/context'
import { health } from '#server/health'

export default defineEventHandler(async (event) => {
  const answer = await health(await useContext())
  if (!answer.ok) setResponseStatus(event, 503)
  return answer
})
