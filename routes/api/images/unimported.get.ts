import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listUnimported } from '#server/images/import'

export default defineEventHandler(async () => listUnimported(await useContext()))
