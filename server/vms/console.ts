import { stat } from 'node:fs/promises'
import { N_ } from '#schemas/msgid'
import type { QKeyCode } from '#schemas/keys'
import type { Context } from '../context'
import { ConflictError } from '../errors'
import { vmPaths } from '../qemu/paths'
import { runDir } from '../config'
import type { Reconciler } from '../reconcile'
import { type Actor, recordEvent } from '../events'
import { getVm } from '.'
import { monitorOf, qmpFailed } from './monitor'
import { chordFor } from './typing'

/** How long each typed key is held: short, since QEMU queues the keys and types them one by one. */
const TYPE_HOLD_MS = 20

/**
 * The unix VNC socket of a VM whose console can be opened from this host, or why not: 404 no such
 * VM, 409 not running, running on another host, or without its VNC socket.
 */
export async function consoleSocket(ctx: Context, reconciler: Reconciler, id: string): Promise<string> {
  const vm = await getVm(ctx, reconciler, id)
  if (vm.state !== 'running' || !vm.pid) throw new ConflictError(N_('The VM "{id}" is not running'), { id })
  if (vm.host !== ctx.config.hostId) {
    throw new ConflictError(N_('The VM "{id}" runs on host {host}: open its console there'), { id, host: vm.host })
  }
  const path = vmPaths(runDir(ctx.config), id).vnc
  const isSocket = await stat(path).then((s) => s.isSocket(), () => false)
  if (!isSocket) throw new ConflictError(N_('The VM "{id}" has no console socket'), { id })
  return path
}

/** Presses one chord (e.g. ctrl, alt, delete) on a running VM's keyboard through QMP. */
export async function sendKeys(ctx: Context, reconciler: Reconciler, actor: Actor, id: string, keys: QKeyCode[]) {
  const qmp = await monitorOf(reconciler, await getVm(ctx, reconciler, id))
  await qmp.execute('send-key', { keys: keys.map((k) => ({ type: 'qcode' as const, data: k })) }).catch((err) => {
    throw qmpFailed(err)
  })
  await recordEvent(ctx.store, actor, 'send-keys', N_('VM'), id)
  return { keys }
}

/**
 * Types text (printable ASCII, newline, tab; checked by the schema) on a running VM's keyboard as
 * a US keyboard would, one `send-key` per character; QEMU queues them in order.
 */
export async function typeText(ctx: Context, reconciler: Reconciler, actor: Actor, id: string, text: string) {
  const qmp = await monitorOf(reconciler, await getVm(ctx, reconciler, id))
  for (const ch of text) {
    const keys = chordFor(ch)!
    await qmp.execute('send-key', { keys: keys.map((k) => ({ type: 'qcode' as const, data: k })), 'hold-time': TYPE_HOLD_MS }).catch((err) => {
      throw qmpFailed(err)
    })
  }
  await recordEvent(ctx.store, actor, 'type', N_('VM'), id)
  return { typed: text.length }
}
