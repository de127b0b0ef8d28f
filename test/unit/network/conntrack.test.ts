import { describe, expect, it } from 'vitest'
import { parseConntrack, readFlows } from '#server/network/conntrack'

// Captured on this machine in a test namespace: a terminal (10.199.0.50, fd99::50) connected to a
// seat's port 3389 through a bridge, an ICMP ping, a connection that was closed (TIME_WAIT) and one
// to an address that never answered (SYN_SENT, UNREPLIED).
const PROC = `ipv4     2 icmp     1 28 src=10.199.0.50 dst=10.199.0.11 type=8 code=0 id=8987 src=10.199.0.11 dst=10.199.0.50 type=0 code=0 id=8987 mark=0 zone=0 use=2
ipv6     10 tcp      6 431998 ESTABLISHED src=fd99:0000:0000:0000:0000:0000:0000:0050 dst=fd99:0000:0000:0000:0000:0000:0000:0011 sport=49700 dport=3389 src=fd99:0000:0000:0000:0000:0000:0000:0011 dst=fd99:0000:0000:0000:0000:0000:0000:0050 sport=3389 dport=49700 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 431998 ESTABLISHED src=10.199.0.50 dst=10.199.0.11 sport=42064 dport=3389 src=10.199.0.11 dst=10.199.0.50 sport=3389 dport=42064 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 119 TIME_WAIT src=10.199.0.50 dst=10.199.0.11 sport=38920 dport=3389 src=10.199.0.11 dst=10.199.0.50 sport=3389 dport=38920 [ASSURED] mark=0 zone=0 use=2
ipv4     2 tcp      6 118 SYN_SENT src=10.199.0.50 dst=10.199.0.98 sport=41600 dport=3389 [UNREPLIED] src=10.199.0.98 dst=10.199.0.50 sport=3389 dport=41600 mark=0 zone=0 use=2
`

// The same flows from `conntrack -L -p tcp` (its summary line goes to stderr).
const TOOL = `tcp      6 431998 ESTABLISHED src=fd99::50 dst=fd99::11 sport=49700 dport=3389 src=fd99::11 dst=fd99::50 sport=3389 dport=49700 [ASSURED] mark=0 use=1
tcp      6 431998 ESTABLISHED src=10.199.0.50 dst=10.199.0.11 sport=42064 dport=3389 src=10.199.0.11 dst=10.199.0.50 sport=3389 dport=42064 [ASSURED] mark=0 use=1
tcp      6 119 TIME_WAIT src=10.199.0.50 dst=10.199.0.11 sport=38920 dport=3389 src=10.199.0.11 dst=10.199.0.50 sport=3389 dport=38920 [ASSURED] mark=0 use=1
tcp      6 118 SYN_SENT src=10.199.0.50 dst=10.199.0.98 sport=41600 dport=3389 [UNREPLIED] src=10.199.0.98 dst=10.199.0.50 sport=3389 dport=41600 mark=0 use=1
`

describe('parseConntrack', () => {
  it('reads the established TCP flows of /proc/net/nf_conntrack, in their original direction', () => {
    expect(parseConntrack(PROC)).toEqual([
      { src: 'fd99:0000:0000:0000:0000:0000:0000:0050', dst: 'fd99:0000:0000:0000:0000:0000:0000:0011', sport: 49700, dport: 3389 },
      { src: '10.199.0.50', dst: '10.199.0.11', sport: 42064, dport: 3389 },
    ])
  })

  it('reads the same flows from `conntrack -L`', () => {
    expect(parseConntrack(TOOL)).toEqual([
      { src: 'fd99::50', dst: 'fd99::11', sport: 49700, dport: 3389 },
      { src: '10.199.0.50', dst: '10.199.0.11', sport: 42064, dport: 3389 },
    ])
  })

  it('finds nothing in an empty table or in garbage', () => {
    expect(parseConntrack('')).toEqual([])
    expect(parseConntrack('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\nnot a flow\n')).toEqual([])
  })
})

describe('readFlows', () => {
  it('is undefined when neither the proc file nor the tool can be read', async () => {
    const path = process.env.PATH
    process.env.PATH = '/nonexistent' // a host without the conntrack package
    try {
      expect(await readFlows(undefined, '/nonexistent/nf_conntrack')).toBeUndefined()
    } finally {
      process.env.PATH = path
    }
  })
})
