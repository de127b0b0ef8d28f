import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getTerminal } from '#server/terminals/index'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getTerminal((await useContext()).store, readId(event)))
