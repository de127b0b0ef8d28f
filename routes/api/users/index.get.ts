import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { listUsers } from '#server/auth/users'

export default defineEventHandler(async () => listUsers((await useContext()).store))
