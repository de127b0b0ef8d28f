import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listLabs } from '#server/labs/index'

export default defineEventHandler(async () => listLabs((await useContext()).store))
