import { defineEventHandler } from 'h3'
import { currentUser } from '#server/http/session'

export default defineEventHandler((event) => currentUser(event))
