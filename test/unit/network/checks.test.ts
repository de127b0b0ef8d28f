import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type HostNetwork, networkGaps, networkNeed } from '#server/network/checks'
import { translate } from '#server/i18n/index'
import type { Msg } from '#server/errors'

// A fake /sys/class/net, bridge.conf and helper in a temp dir: the checks read only files.
let dir: string
let host: HostNetwork
const say = (gaps: Msg[]) => gaps.map((g) => translate('en', g.msgid, g.params))

async function tap(name: string, attrs: { owner?: number; group?: number; flags?: string; master?: string }) {
  const d = join(dir, 'net', name)
  await mkdir(d, { recursive: true })
  await writeFile(join(d, 'tun_flags'), `${attrs.flags ?? '0x1002'}\n`)
  await writeFile(join(d, 'owner'), `${attrs.owner ?? -1}\n`)
  await writeFile(join(d, 'group'), `${attrs.group ?? -1}\n`)
  if (attrs.master) await symlink(`../${attrs.master}`, join(d, 'master'))
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'labvirt-checks-'))
  await mkdir(join(dir, 'net/br0/bridge'), { recursive: true })
  await mkdir(join(dir, 'net/eth0'), { recursive: true })
  await tap('lvok', { owner: 1000, master: 'br0' })
  await tap('lvany', {})
  await tap('lvother', { owner: 1001, group: 50, master: 'eth0' })
  await tap('lvtun', { flags: '0x1001' })
  await writeFile(join(dir, 'bridge.conf'), '# ACL\nallow br0\ninclude more.conf\n')
  await writeFile(join(dir, 'more.conf'), 'deny br1\n')
  await writeFile(join(dir, 'helper'), '')
  await chmod(join(dir, 'helper'), 0o755)
  host = { sysNet: join(dir, 'net'), bridgeConf: join(dir, 'bridge.conf'), bridgeHelper: join(dir, 'helper'), uid: 1000, gids: [1000] }
})
afterAll(() => rm(dir, { recursive: true, force: true }))

describe('networkGaps', () => {
  it('is empty for a tap of the service user (or of anyone) on its bridge', async () => {
    expect(await networkGaps({ mode: 'tap', tap: 'lvok', bridge: 'br0' }, host)).toEqual([])
    expect(await networkGaps({ mode: 'tap', tap: 'lvany' }, host)).toEqual([])
  })

  it('names a missing tap, a tun device, another owner or group, and the wrong bridge', async () => {
    expect(say(await networkGaps({ mode: 'tap', tap: 'lvnone' }, host))).toEqual(['the tap lvnone does not exist'])
    expect(say(await networkGaps({ mode: 'tap', tap: 'lvtun' }, host))).toEqual(['lvtun is not a tap device'])
    expect(say(await networkGaps({ mode: 'tap', tap: 'lvother', bridge: 'br0' }, host))).toEqual([
      'the tap lvother belongs to user 1001, not to user 1000 that runs LabVirt',
      'the tap lvother belongs to group 50, which the user that runs LabVirt is not in',
      'the tap lvother is not on the bridge br0',
    ])
    expect(await networkGaps({ mode: 'tap', tap: 'lvother' }, { ...host, uid: 0 }), 'root opens any tap').toEqual([])
    expect(say(await networkGaps({ mode: 'tap', tap: 'lvok', bridge: 'br9' }, host))).toEqual(['the bridge br9 does not exist'])
  })

  it('bridge mode: the bridge, bridge.conf (includes and deny rules) and a setuid helper unless root', async () => {
    expect(say(await networkGaps({ mode: 'bridge', bridge: 'br0' }, host))).toEqual([`${host.bridgeHelper} is not setuid root`])
    expect(await networkGaps({ mode: 'bridge', bridge: 'br0' }, { ...host, uid: 0 })).toEqual([])
    expect(say(await networkGaps({ mode: 'bridge', bridge: 'br1' }, { ...host, uid: 0 }))).toEqual([
      'the bridge br1 does not exist',
      `${host.bridgeConf} does not allow the bridge br1`,
    ])
    expect(say(await networkGaps({ mode: 'bridge', bridge: 'br0' }, { ...host, uid: 0, bridgeConf: join(dir, 'none.conf') }))).toEqual([
      `${join(dir, 'none.conf')} does not allow the bridge br0`,
    ])
  })
})

describe('networkNeed', () => {
  it('is a tap named after the MAC, the lab\'s bridge (br0 by default), or nothing in user mode', () => {
    expect(networkNeed({ mode: 'tap', bridge: 'br3' }, '52:54:00:01:02:03')).toEqual({ mode: 'tap', tap: 'lv525400010203', bridge: 'br3' })
    expect(networkNeed({ mode: 'bridge' }, '52:54:00:01:02:03')).toEqual({ mode: 'bridge', bridge: 'br0' })
    expect(networkNeed({ mode: 'user', hostPort: 20000 }, '52:54:00:01:02:03')).toBeUndefined()
  })
})
