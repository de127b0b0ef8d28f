import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { getUser } from '#server/auth/users'
import { readId } from '#server/http/input'

export default defineEventHandler(async (event) => getUser((await useContext()).store, readId(event)))
