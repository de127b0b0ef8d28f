import { defineCommand } from 'citty'
import { execa } from 'execa'
import { userInfo } from 'node:os'
import { N_ } from '#schemas/msgid'
import type { Lab } from '#schemas/labs'
import type { Stored } from '#storage'
import { seatMac } from '#server/labs/seats'
import { type HostNetwork, networkGaps, networkNeed, thisHost } from '#server/network/checks'
import { readSetupState, setupPlan } from '#server/network/setup'
import { applyStep, describeStep } from '#server/network/steps'
import { needsTracking, readTracking, trackingGaps } from '#server/network/tracking'
import { Api } from './api'
import { guarded } from './guarded'
import { t } from './i18n'

// The CLI runs as root (sudo) for setup: the service user is who sudo was run by, unless told.
const defaultUser = () => process.env.SUDO_USER || userInfo().username

const user = { type: 'string', description: t(N_('The user LabVirt runs as (default: $SUDO_USER or the current user)')) } as const

/** The host as `name` sees it: their uid and groups decide which taps they may open. */
async function hostFor(name: string | undefined): Promise<HostNetwork> {
  if (!name) return thisHost()
  const id = async (flag: string) => (await execa('id', [flag, name])).stdout.trim().split(/\s+/).map(Number)
  return { ...thisHost(), uid: (await id('-u'))[0]!, gids: await id('-G') }
}

const setup = defineCommand({
  meta: { name: 'setup', description: t(N_('Create the bridges and taps the labs need (as root); idempotent')) },
  args: {
    'dry-run': { type: 'boolean', description: t(N_('Print the commands instead of running them')) },
    user,
  },
  run: guarded(async ({ args }) => {
    const labs = await Api.fromEnv().call<Stored<Lab>[]>('GET', '/api/labs')
    const steps = setupPlan(labs, await readSetupState(), args.user || defaultUser())
    if (steps.length === 0) return console.log(t(N_('Nothing to do: every tap and bridge lab has its network on this host')))
    if (args['dry-run']) return console.log(steps.map(describeStep).join('\n'))
    if (process.getuid?.() !== 0) throw new Error(t(N_('Changing the host network needs root: run this with sudo, or with --dry-run to see the commands')))
    for (const step of steps) {
      console.log(`+ ${describeStep(step)}`)
      try {
        await applyStep(step)
      } catch (err) {
        throw new Error(t(N_('Failed: {command}: {error}'), { command: describeStep(step), error: (err as { stderr?: string }).stderr || (err as Error).message }))
      }
    }
  }),
})

const check = defineCommand({
  meta: { name: 'check', description: t(N_('Say what is missing on this host for the tap and bridge labs')) },
  args: { user },
  run: guarded(async ({ args }) => {
    const labs = await Api.fromEnv().call<Stored<Lab>[]>('GET', '/api/labs')
    const host = await hostFor(args.user)
    let missing = 0
    for (const lab of labs) {
      // Bridge mode needs the same for every seat; tap mode a tap per seat, seat 0 the maintenance VM's.
      const seats = lab.network.mode === 'tap' ? Array.from({ length: lab.max + 1 }, (_, n) => n) : [1]
      for (const n of seats) {
        const need = networkNeed(lab.network, seatMac(lab, n))
        for (const gap of need ? await networkGaps(need, host) : []) {
          missing++
          console.log(`${lab.id}: ${t(gap.msgid, gap.params)}`)
        }
      }
    }
    // Not for VMs to wait on (they start without it), but nobody would show as connected.
    const tracking = await readTracking()
    for (const gap of trackingGaps(labs, tracking)) {
      missing++
      console.log(t(gap.msgid, gap.params))
    }
    if (tracking.table === undefined && needsTracking(labs)) console.log(t(N_('Cannot tell whether connection tracking is on: only root may list the nftables tables')))
    if (!missing) return console.log(t(N_('Every tap and bridge lab has its network on this host')))
    console.log(t(N_('Run "labvirt network setup" as root to fix this')))
    process.exitCode = 1
  }),
})

export const network = defineCommand({
  meta: { name: 'network', description: t(N_('Check and set up the host network of tap and bridge labs')) },
  subCommands: { setup, check },
})

const hostsFile = (format: 'dnsmasq' | 'dhcpd', description: string) =>
  defineCommand({
    meta: { name: format, description },
    run: guarded(async () => {
      process.stdout.write((await Api.fromEnv().call<string | undefined>('GET', `/api/dhcp/${format}`)) ?? '')
    }),
  })

export const dhcp = defineCommand({
  meta: { name: 'dhcp', description: t(N_('Print the DHCP reservations of the seats and terminals')) },
  subCommands: {
    dnsmasq: hostsFile('dnsmasq', t(N_('As a dnsmasq dhcp-hostsfile'))),
    dhcpd: hostsFile('dhcpd', t(N_('As ISC dhcpd host blocks'))),
  },
})
