import { join } from 'node:path'
import { defineNitroPlugin } from 'nitropack/runtime'
import { useContext } from '#server/context'
import type { StoreChange } from '#storage'
import { storeReservations } from '#server/network/dhcp'
import { ManagedDnsmasq } from '#server/network/dnsmasq'

// LABVIRT_DHCP_INTERFACE set: LabVirt runs dnsmasq on that interface with the seats' and terminals'
// reservations, rereads them when a lab or terminal is written (here or on another host of a shared
// store), and every reconcile interval in case a change signal was missed.
export default defineNitroPlugin((nitro) => {
  let stopped = false
  const running = useContext().then(async ({ config, store }) => {
    if (!config.dhcp) return undefined
    const dnsmasq = new ManagedDnsmasq({
      dir: join(config.dataDir, 'dhcp'),
      interface: config.dhcp.interface,
      range: config.dhcp.range,
      load: () => storeReservations(store),
    })
    // The store may not answer yet (Redis starting): try again until it does.
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await dnsmasq.start()
        break
      } catch (err) {
        if (attempt === 0) console.error('[labvirt] dnsmasq not started, retrying:', (err as Error).message)
        await new Promise((r) => setTimeout(r, 2000))
      }
    }
    const onChange = (c: StoreChange) => {
      if (c.collection === 'labs' || c.collection === 'terminals' || c.collection === '*') void dnsmasq.refresh()
    }
    store.kv.changes.on('change', onChange)
    const timer = setInterval(() => void dnsmasq.refresh(), config.reconcileIntervalMs)
    timer.unref()
    return async () => {
      store.kv.changes.off('change', onChange)
      clearInterval(timer)
      await dnsmasq.stop()
    }
  })
  running.catch((err) => console.error('[labvirt] dnsmasq not started:', err))
  nitro.hooks.hook('close', async () => {
    stopped = true
    await (await running.catch(() => undefined))?.()
  })
})
