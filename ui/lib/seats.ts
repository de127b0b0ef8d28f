import { N_ } from './i18n'
import type { Vm } from './live'

/** What a seat shows: its state, with held, backing-off and maintenance told apart. */
export type Shown = 'failed' | 'held' | 'backing-off' | 'maintenance' | 'starting' | 'stopping' | 'running' | 'stopped'

/** In this order on the dashboard: problems first. */
export const SHOWN: Shown[] = ['failed', 'held', 'backing-off', 'maintenance', 'starting', 'stopping', 'running', 'stopped']

export const SHOWN_LABEL: Record<Shown, string> = {
  failed: N_('failed'),
  held: N_('held down'),
  'backing-off': N_('backing off'),
  maintenance: N_('maintenance'),
  starting: N_('starting'),
  stopping: N_('stopping'),
  running: N_('running'),
  stopped: N_('stopped'),
}

export function shown(vm: Vm, now = Date.now()): Shown {
  if (vm.state === 'failed') return 'failed'
  if (vm.held && vm.state !== 'running') return 'held'
  if (vm.retryAt && new Date(vm.retryAt).getTime() > now) return 'backing-off'
  if (vm.kind === 'maintenance') return 'maintenance'
  return vm.state
}

/** Problems first, then by seat number; the id breaks every tie, so the order is always the same. */
export function compareSeats(a: Vm, b: Vm) {
  return SHOWN.indexOf(shown(a)) - SHOWN.indexOf(shown(b)) || (a.seat ?? 0) - (b.seat ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

export const isProblem = (vm: Vm) => SHOWN.indexOf(shown(vm)) < SHOWN.indexOf('starting')

/** A running seat's service: ready for a terminal, still booting, or unhealthy. */
export type Service = 'ready' | 'booting' | 'unhealthy'

export const SERVICE_LABEL: Record<Service, string> = {
  ready: N_('ready'),
  booting: N_('booting'),
  unhealthy: N_('unhealthy'),
}

/** Only a running VM has a service to tell about. */
export function service(vm: Vm): Service | undefined {
  if (vm.state !== 'running') return undefined
  if (vm.unhealthy) return 'unhealthy'
  return vm.ready ? 'ready' : 'booting'
}
