import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { createDemo } from '#server/demo'
import { languageOf } from '#server/http/language'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => createDemo(await useContext(), actorOf(event), languageOf(event)))
