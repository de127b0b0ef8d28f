import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getLab } from '#server/labs/index'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getLab((await useContext()).store, readId(event)))
