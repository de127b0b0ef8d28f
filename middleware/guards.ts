import { defineEventHandler } from 'h3'
import { guardRequest } from '#server/http/guards'

// The guards run as one middleware: their order is written down in one place (guardRequest), and
// the context is read once per request.
export default defineEventHandler(guardRequest)
