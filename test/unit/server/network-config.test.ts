import { describe, expect, it } from 'vitest'
import { ConfigError, readConfig } from '#server/config'

describe('network settings', () => {
  it('reads the forward range and address, and the managed DHCP interface and range', () => {
    const c = readConfig({ LABVIRT_FORWARD_PORTS: '30000-30499', LABVIRT_FORWARD_ADDRESS: '127.0.0.1', LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: '10.77.0.0,static' })
    expect(c).toMatchObject({ forwardPorts: { from: 30000, to: 30499 }, forwardAddress: '127.0.0.1', dhcp: { interface: 'br0', range: '10.77.0.0,static' } })
    expect(readConfig({}).dhcp).toBeUndefined()
    expect(readConfig({ LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: '10.0.0.50,10.0.0.99,12h' }).dhcp!.range).toBe('10.0.0.50,10.0.0.99,12h')
  })

  it.each([
    [{ LABVIRT_FORWARD_PORTS: 'lots' }, /LABVIRT_FORWARD_PORTS/],
    [{ LABVIRT_FORWARD_PORTS: '80-90' }, /LABVIRT_FORWARD_PORTS/],
    [{ LABVIRT_FORWARD_ADDRESS: 'localhost' }, /LABVIRT_FORWARD_ADDRESS/],
    [{ LABVIRT_DHCP_INTERFACE: 'br0;reboot', LABVIRT_DHCP_RANGE: '10.0.0.0,static' }, /LABVIRT_DHCP_INTERFACE/],
    [{ LABVIRT_DHCP_INTERFACE: 'br0' }, /LABVIRT_DHCP_RANGE/],
    [{ LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: 'static' }, /LABVIRT_DHCP_RANGE/],
    [{ LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: '10.0.0.0/24' }, /LABVIRT_DHCP_RANGE/],
    [{ LABVIRT_DHCP_INTERFACE: 'br0', LABVIRT_DHCP_RANGE: '10.0.0.1,10.0.0.9,1h,--conf-file=/x' }, /LABVIRT_DHCP_RANGE/],
  ])('refuses %o', (env, message) => {
    expect(() => readConfig(env)).toThrow(ConfigError)
    expect(() => readConfig(env)).toThrow(message)
  })
})
