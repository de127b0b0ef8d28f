import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listJobs } from '#server/jobs/index'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => listJobs(await useContext(), languageOf(event)))
