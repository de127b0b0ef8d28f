import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getJob } from '#server/jobs/index'
import { readId } from '#server/http/input'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => getJob(await useContext(), readId(event), languageOf(event)))
