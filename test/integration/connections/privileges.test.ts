import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NetWorld, requireTools } from '../../helpers/netns'
import { waitFor } from '../vms/vm-helpers'

// Which tracking source works for which user: LabVirt's reader, bundled and run in a namespace
// whose connection tracking holds one established flow, as root, as an ordinary user, and as an
// ordinary user with CAP_NET_ADMIN (what a systemd unit's AmbientCapabilities gives).

const world = new NetWorld()
let N: string
let dir: string
let reader: string
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']

beforeAll(async () => {
  await requireTools(['ip', '/usr/sbin/nft', 'conntrack', 'busybox', 'setpriv'])
  N = await world.ns('priv')
  await world.exec(N, ['/usr/sbin/nft', '-f', '-'], {
    input: 'table inet lvtest {\n  chain track {\n    type filter hook input priority 0; policy accept;\n    ct state established counter\n  }\n}\n',
  })
  dir = await mkdtemp(join(tmpdir(), 'labvirt-reader-'))
  await chmod(dir, 0o755) // the ordinary user runs the bundle too
  reader = join(dir, 'reader.mjs')
  await build({
    stdin: {
      contents: `import { readFlows } from './server/network/conntrack.ts'\nconsole.log(JSON.stringify(await readFlows() ?? null))\n`,
      resolveDir: resolve(__dirname, '../../..'),
      loader: 'ts',
    },
    bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: reader, logLevel: 'error',
    // execa is CommonJS in parts: give the bundle a require.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  })
  world.spawn(N, ['busybox', 'nc', '-ll', '-p', '3389', '-e', '/bin/cat'])
  // Listening (state 0A on port 3389 = 0D3D) before the client tries.
  await waitFor('the listener', 5_000, async () => /:0D3D \S+ 0A /.test((await world.exec(N, ['cat', '/proc/net/tcp', '/proc/net/tcp6'])).stdout))
  const client = world.spawn(N, ['busybox', 'nc', '127.0.0.1', '3389'])
  let out = ''
  client.stdout!.on('data', (d) => (out += d))
  client.stdin!.write('hello\n')
  await waitFor('the flow to echo', 5_000, async () => out.includes('hello'))
}, 60_000)

afterAll(async () => {
  await world.dispose()
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function read(prefix: string[] = []) {
  // From the reader's directory: the user must be able to enter the working directory, or every
  // program it starts fails (a checkout under a 0700 directory, as CI's mktemp -d makes).
  const r = await world.exec(N, [...prefix, process.execPath, reader], { cwd: dir })
  return JSON.parse(r.stdout) as { source: string; flows: { src: string; dport: number }[] } | null
}

const theFlow = { src: '127.0.0.1', dst: '127.0.0.1', dport: 3389 }

describe('reading connection tracking', () => {
  it('root reads /proc/net/nf_conntrack', async () => {
    expect(await read()).toMatchObject({ source: 'proc', flows: [expect.objectContaining(theFlow)] })
  })

  it('an ordinary user can read neither the proc file (0440 root) nor the table through `conntrack`', async () => {
    expect(await read(NOBODY)).toBeNull()
  })

  it('an ordinary user with CAP_NET_ADMIN reads it through `conntrack -L`', async () => {
    expect(await read([...NOBODY, '--inh-caps=+net_admin', '--ambient-caps=+net_admin'])).toMatchObject({ source: 'tool', flows: [expect.objectContaining(theFlow)] })
  })
})
