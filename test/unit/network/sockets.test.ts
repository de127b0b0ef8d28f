import { createConnection, createServer, type Server, type Socket as NetSocket } from 'node:net'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { parseProcTcp, procAddress, readSockets } from '#server/network/sockets'

// Captured on this machine in a test namespace: a listener on 0.0.0.0:20001 with a peer from
// 10.199.0.50 and one from loopback (whose client end shows too), and in tcp6 dual-stack
// listeners on 3389 and 3390 with IPv4 peers (as ::ffff:a.b.c.d) and an IPv6 peer.
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:4E21 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 87756 1 0000000055a85900 100 0 0 10 0
   1: 0100007F:4E21 0100007F:A35A 01 00000000:00000000 00:00000000 00000000     0        0 86907 1 00000000abaaa7ca 20 0 0 10 -1
   2: 0B00C70A:4E21 3200C70A:93F4 01 00000000:00000000 00:00000000 00000000     0        0 87861 1 000000005be1c863 20 0 0 10 -1
   3: 0100007F:A35A 0100007F:4E21 01 00000000:00000000 00:00000000 00000000     0        0 87867 2 00000000cd3fdd56 20 0 0 10 -1
`
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:170D 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17485 1 00000000cdb9c7b1 100 0 0 10 0
   3: 000099FD000000000000000011000000:0D3D 000099FD000000000000000050000000:E38A 01 00000000:00000000 00:00000000 00000000     0        0 86371 1 00000000357f7506 20 0 0 10 -1
   4: 0000000000000000FFFF00000B00C70A:0D3E 0000000000000000FFFF00003200C70A:8B26 01 00000000:00000000 00:00000000 00000000     0        0 87652 1 00000000efdaa95e 20 0 0 10 -1
`

describe('parseProcTcp', () => {
  it('reads established IPv4 sockets: local port and peer', () => {
    expect(parseProcTcp(TCP)).toEqual([
      { localAddress: '127.0.0.1', localPort: 20001, remoteAddress: '127.0.0.1', remotePort: 41818 },
      { localAddress: '10.199.0.11', localPort: 20001, remoteAddress: '10.199.0.50', remotePort: 37876 },
      { localAddress: '127.0.0.1', localPort: 41818, remoteAddress: '127.0.0.1', remotePort: 20001 },
    ])
  })

  it('reads IPv6 sockets, with IPv4-mapped peers as plain IPv4', () => {
    expect(parseProcTcp(TCP6)).toEqual([
      { localAddress: 'fd99::11', localPort: 3389, remoteAddress: 'fd99::50', remotePort: 58250 },
      { localAddress: '10.199.0.11', localPort: 3390, remoteAddress: '10.199.0.50', remotePort: 35622 },
    ])
  })

  it('writes IPv6 addresses in their short form', () => {
    expect(procAddress('00000000000000000000000001000000')).toBe('::1')
    expect(procAddress('00000000000000000000000000000000')).toBe('::')
    expect(procAddress('000080FE00000000FF000002000000FE')).toBe('fe80::200:ff:fe00:0')
  })
})

describe('readSockets', () => {
  it("sees a real connection to a listening socket, from the listener's side", async () => {
    const server: Server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as { port: number }).port
    const accepted = once(server, 'connection')
    const client: NetSocket = createConnection({ host: '127.0.0.1', port })
    await once(client, 'connect')
    await accepted
    try {
      const mine = (await readSockets())!.filter((s) => s.localPort === port)
      expect(mine).toEqual([{ localAddress: '127.0.0.1', localPort: port, remoteAddress: '127.0.0.1', remotePort: client.localPort }])
    } finally {
      client.destroy()
      server.close()
    }
    await once(server, 'close')
    // Closed: no established socket on the port any more (the server's end went with it).
    expect((await readSockets())!.filter((s) => s.localPort === port && s.remotePort === client.localPort)).toEqual([])
  })
})
