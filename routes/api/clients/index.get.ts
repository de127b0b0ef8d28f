import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listClients } from '#server/clients/index'

export default defineEventHandler(async () => listClients((await useContext()).store))
