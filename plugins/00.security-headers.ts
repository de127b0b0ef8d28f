import { defineNitroPlugin } from 'nitropack/runtime'
import { setSecurityHeaders } from '#server/http/security-headers'

// The request hook runs before the static files and every handler, so errors carry them too.
export default defineNitroPlugin((nitro) => {
  nitro.hooks.hook('request', setSecurityHeaders)
})
