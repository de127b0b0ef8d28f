import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getClient } from '#server/clients/index'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getClient((await useContext()).store, readId(event)))
