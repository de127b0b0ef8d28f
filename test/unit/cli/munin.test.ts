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
    for (const f of labels.filter((l) => l !== 'busy')) expect(Number(numbers.get(f)), f).not.toBeNaN()
    // No host CPU figure (sampling off): unknown, as Munin writes it.
    expect(values).toContain('multigraph labvirt_cpu\nbusy.value U\n')
  })

  it('graphs the host CPU as % busy, 0 to 100', () => {
    const gs = graphs(parseSamples('labvirt_host_cpu_busy_percent 37.5\n'))
    expect(renderConfig(gs)).toContain(
      'multigraph labvirt_cpu\ngraph_title LabVirt host CPU\ngraph_vlabel %\ngraph_args --base 1000 --lower-limit 0 --upper-limit 100 --rigid\ngraph_category labvirt\nbusy.label busy\nbusy.min 0\nbusy.max 100\n',
    )
    expect(renderValues(gs)).toContain('multigraph labvirt_cpu\nbusy.value 37.5\n')
  })
})
