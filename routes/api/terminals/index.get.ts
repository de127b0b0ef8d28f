import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listTerminals } from '#server/terminals/index'

export default defineEventHandler(async () => listTerminals((await useContext()).store))
