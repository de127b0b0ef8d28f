import { describe, expect, it } from 'vitest'
import { dhcpdHosts, dnsmasqHosts, reservations } from '#server/network/dhcp'

describe('DHCP reservations', () => {
  const labs = [
    { name: 'lab', macBase: '52:54:00:aa:bb:00', ipBase: '10.0.0.10', max: 2 },
    { name: 'nonet', macBase: '52:54:00:aa:cc:00', max: 3 },
  ]
  const terminals = [
    { name: 'pc2', ip: '10.0.1.2' },
    { name: 'pc1', ip: '10.0.1.1', mac: 'AA:BB:CC:00:11:22' },
  ]
  const rs = reservations(labs, terminals)

  it('reserves seats 1..max of labs with an IP base, and terminals with both addresses', () => {
    expect(rs).toEqual([
      { mac: '52:54:00:aa:bb:01', ip: '10.0.0.11', name: 'lab-1' },
      { mac: '52:54:00:aa:bb:02', ip: '10.0.0.12', name: 'lab-2' },
      { mac: 'aa:bb:cc:00:11:22', ip: '10.0.1.1', name: 'pc1' },
    ])
  })

  it('renders a dnsmasq hosts file and ISC dhcpd host blocks', () => {
    expect(dnsmasqHosts(rs)).toBe('52:54:00:aa:bb:01,10.0.0.11,lab-1\n52:54:00:aa:bb:02,10.0.0.12,lab-2\naa:bb:cc:00:11:22,10.0.1.1,pc1\n')
    expect(dhcpdHosts(rs).split('\n')[0]).toBe('host lab-1 { hardware ethernet 52:54:00:aa:bb:01; fixed-address 10.0.0.11; option host-name "lab-1"; }')
    expect(dnsmasqHosts([])).toBe('')
  })
})
