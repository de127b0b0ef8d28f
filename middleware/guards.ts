import { defineEventHandler } from 'h3'
import { guardRequest } from '#server/http/guards'

// One middleware for all the guards, in their order: each read the context on its own before.
export default defineEventHandler(guardRequest)
