import { N_ } from '#schemas/msgid'
import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { DomainError } from '#server/errors'
import { clientAddress } from '#server/http/client'
import { InFlight } from '#server/http/in-flight'

const inFlight = new InFlight()

// One address may not hold more than LABVIRT_MAX_REQUESTS_PER_ADDRESS requests at once (open
// streams count until they close): a single client cannot take every handler and socket from
// the forty terminals and the admins. Behind a trusted proxy the address is the one it forwards.
export default defineEventHandler(async (event) => {
  const { config } = await useContext()
  const address = clientAddress(event, config.trustProxy)
  const release = inFlight.admit(address, config.maxRequestsPerAddress)
  if (!release) {
    throw new DomainError(429, 'too_many_requests', N_('Too many requests at once from {address}; try again shortly'), { address }, { retryAfter: 1 })
  }
  event.node.res.once('close', release)
})
