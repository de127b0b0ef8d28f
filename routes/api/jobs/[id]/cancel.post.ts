import { defineEventHandler, setResponseStatus } from 'h3'
import { useContext } from '#server/context'
import { cancelJob } from '#server/jobs/index'
import { readId } from '#server/http/input'
import { actorOf } from '#server/http/session'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => {
  const job = await cancelJob(await useContext(), actorOf(event), readId(event), languageOf(event))
  setResponseStatus(event, 202)
  return job
})
