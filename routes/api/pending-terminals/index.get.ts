import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listPending } from '#server/terminals/pending'

export default defineEventHandler(async () => listPending((await useContext()).store))
