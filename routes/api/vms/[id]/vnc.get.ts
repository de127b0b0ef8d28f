import { defineWebSocketHandler } from 'h3'
import { vncHooks } from '#server/http/vnc-socket'

export default defineWebSocketHandler(vncHooks)
