import { defineCommand, runMain } from 'citty'
import { N_ } from '#schemas/msgid'
import { VM_ACTIONS } from '#schemas/vms'
import { Api } from './api'
import { t } from './i18n'
import { demo } from './demo'
import { guarded } from './guarded'
import { image } from './images'
import { profile } from './profiles'
import { dhcp, network } from './network'
import { table } from './table'
import { terminal } from './terminals'
import { munin } from './munin'

interface Vm { id: string; state: string; pid?: number; lab?: string; profile: string; held: boolean; connected: boolean; error?: string }


// VM states are API values; the table shows them in the admin's language.
const STATES: Record<string, string> = {
  stopped: N_('stopped'),
  starting: N_('starting'),
  running: N_('running'),
  stopping: N_('stopping'),
  failed: N_('failed'),
}

const vmList = defineCommand({
  meta: { name: 'list', description: t(N_('List every VM with its state')) },
  args: { json: { type: 'boolean', description: t(N_('Print JSON')) } },
  run: guarded(async ({ args }) => {
    const vms = await Api.fromEnv().call<Vm[]>('GET', '/api/vms')
    if (args.json) return console.log(JSON.stringify(vms, null, 2))
    const head = [N_('NAME'), N_('STATE'), N_('PID'), N_('LAB'), N_('PROFILE'), N_('ERROR')].map((h) => t(h))
    console.log(table([head, ...vms.map((v) => [v.id, v.held ? `${t(STATES[v.state] ?? v.state)} (${t(N_('held'))})` : t(STATES[v.state] ?? v.state), String(v.pid ?? ''), v.lab ?? '', v.profile, v.error?.split('\n')[0] ?? ''])]))
  }),
})

const vmActions = Object.fromEntries(
  VM_ACTIONS.map((action) => [
    action,
    defineCommand({
      meta: { name: action, description: t(N_('{action} one or more VMs'), { action }) },
      args: { id: { type: 'positional', required: true, description: t(N_('VM names')) } },
      // Each VM is acted on and reported, even after one fails; the exit code says if any did.
      run: guarded(async ({ args }) => {
        const api = Api.fromEnv()
        for (const id of [args.id, ...args._.slice(1)]) {
          try {
            const vm = await api.call<Vm>('POST', `/api/vms/${encodeURIComponent(id)}/actions`, { action })
            console.log(`${vm.id}: ${vm.state}`)
          } catch (err) {
            console.error(`${id}: ${(err as Error).message}`)
            process.exitCode = 1
          }
        }
      }),
    }),
  ]),
)

const launch = defineCommand({
  meta: { name: 'launch', description: t(N_('Run a one-off writable VM of a profile, e.g. to install an OS from an ISO')) },
  args: {
    profile: { type: 'string', required: true, description: t(N_('Profile to run')) },
    name: { type: 'string', description: t(N_('VM name (default: <profile>-install)')) },
    cdrom: { type: 'string', description: t(N_('ISO file in the images directory')) },
    boot: { type: 'enum', options: ['c', 'd'], description: t(N_('Boot from disk (c) or CD-ROM (d)')) },
  },
  run: guarded(async ({ args }) => {
    const name = args.name ?? `${args.profile}-install`
    const body = { name, profile: args.profile, cdrom: args.cdrom, boot: args.boot ?? (args.cdrom ? 'd' : 'c') }
    await Api.fromEnv().call('POST', '/api/vms', body)
    console.log(t(N_('Launched {name}; see it with: labvirt vm list'), { name }))
  }),
})

const main = defineCommand({
  meta: { name: 'labvirt', description: t(N_('Runs the VMs of university computer labs')) },
  subCommands: {
    vm: defineCommand({ meta: { name: 'vm', description: t(N_('List and control VMs')) }, subCommands: { list: vmList, ...vmActions } }),
    launch,
    image,
    profile,
    terminal,
    network,
    dhcp,
    munin,
    demo: defineCommand({
      meta: { name: 'demo', description: t(N_('Create a small demo lab (a tiny Linux guest, a profile, 2 seats in user networking)')) },
      run: guarded(() => demo(Api.fromEnv())),
    }),
  },
})

runMain(main)
