import { describe, expect, it } from 'vitest'
import { graphs, muninField, parseSamples, renderConfig, renderValues } from '../../../bin/cli/munin'

describe('munin plugin', () => {
  it('makes valid Munin field names of any lab name', () => {
    expect(muninField('aula-1.b')).toBe('aula_1_b')
    expect(muninField('3d')).toBe('_3d')
    expect(muninField('ok_Lab2')).toBe('ok_Lab2')
  })

  it('renders every field of the config with a numeric value in fetch', () => {
    const text = [
      '# HELP labvirt_vms x', '# TYPE labvirt_vms gauge',
      'labvirt_vms{lab="aula-1",state="running"} 2', 'labvirt_vms{lab="aula-2",state="running"} 1',
      'labvirt_vms{lab="aula-1",state="failed"} 1', 'labvirt_vms{lab="",state="running"} 5',
      'labvirt_seats_connected{lab="aula-1"} 1', 'labvirt_host_load1 0.5',
      'labvirt_host_memory_total_bytes 100', 'labvirt_host_memory_free_bytes 40',
    ].join('\n')
    const gs = graphs(parseSamples(text))
    const config = renderConfig(gs)
    expect(config).toContain('multigraph labvirt_seats\ngraph_title LabVirt seats by state\ngraph_vlabel seats\ngraph_category labvirt\nrunning.label running\nfailed.label failed\n')
    expect(config).toContain('aula_1.label aula-1')
    const values = renderValues(gs)
    // VMs outside a lab (lab="") are not seats.
    expect(values).toContain('multigraph labvirt_seats\nrunning.value 3\nfailed.value 1\n')
    const labels = [...config.matchAll(/^(\w+)\.label /gm)].map((m) => m[1])
    const numbers = new Map([...values.matchAll(/^(\w+)\.value (\S+)$/gm)].map((m) => [m[1], m[2]]))
    for (const f of labels) expect(Number(numbers.get(f)), f).not.toBeNaN()
  })
})
