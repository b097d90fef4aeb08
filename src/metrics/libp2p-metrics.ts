import { prometheusMetrics, type PrometheusMetricsInit } from '@libp2p/prometheus-metrics'
import type { ComponentLogger, Metrics, MultiaddrConnection, Stream } from '@libp2p/interface'
import { Counter, type Registry } from 'prom-client'

/** libp2p's bytes per protocol ("<protocol> received", "<protocol> sent"; "global" for the connections themselves). */
const TRANSFER_METRIC = 'libp2p_data_transfer_bytes_total'

/** Bytes one protocol (or all connections, "global") moved since the last scrape. */
interface TransferCell { received: number, sent: number }

/**
 * libp2p's Prometheus metrics (@libp2p/prometheus-metrics) with a cheaper
 * byte count. That package counts every message each connection and stream
 * receives or sends by building the key string ("<protocol> received") and
 * updating a Map entry of it, per message: in bench:jobs' profile that was
 * most of what metrics cost a node. Here each connection and stream finds its
 * protocol's counts once, when it opens, and each message adds its bytes to
 * them; the counter, with the same name and labels, reads them at scrape time.
 * Every other libp2p metric is the package's own; `init` goes to the package.
 */
export function libp2pMetrics (registry: Registry, init: Partial<Omit<PrometheusMetricsInit, 'registry'>> = {}): (components: { logger: ComponentLogger }) => Metrics {
  const factory = prometheusMetrics({ ...init, registry })
  return (components) => {
    const inner = factory(components)
    const transfer = new TransferCounts(registry)
    inner.trackMultiaddrConnection = (maConn: MultiaddrConnection) => { transfer.track(maConn, 'global') }
    inner.trackProtocolStream = (stream: Stream) => {
      // Not negotiated yet: the package skips these too (the upgrader tracks streams after negotiation).
      if (stream.protocol != null) transfer.track(stream, stream.protocol)
    }
    return inner
  }
}

class TransferCounts {
  private readonly cells = new Map<string, TransferCell>()

  constructor (registry: Registry) {
    // The package registered its own counter of this name; this one replaces it, same name, help and label.
    registry.removeSingleMetric(TRANSFER_METRIC)
    const cells = this.cells
    new Counter({
      name: TRANSFER_METRIC,
      help: TRANSFER_METRIC,
      labelNames: ['protocol'],
      registers: [registry],
      collect () {
        for (const [name, cell] of cells) {
          if (cell.received > 0) this.inc({ protocol: `${name} received` }, cell.received)
          if (cell.sent > 0) this.inc({ protocol: `${name} sent` }, cell.sent)
          cell.received = 0
          cell.sent = 0
        }
      }
    })
  }

  /**
   * Count what `stream` receives and sends under `name`. As the package does,
   * this observes dispatched `message` events instead of adding a listener:
   * a listener added this early would make the stream hand out buffered data
   * before the protocol's own reader is attached.
   */
  track (stream: MultiaddrConnection | Stream, name: string): void {
    let cell = this.cells.get(name)
    if (cell == null) {
      cell = { received: 0, sent: 0 }
      this.cells.set(name, cell)
    }
    const counts = cell
    const dispatchEvent = stream.dispatchEvent.bind(stream)
    stream.dispatchEvent = (event: Event): boolean => {
      if (event.type === 'message') counts.received += (event as Event & { data: { byteLength: number } }).data.byteLength
      return dispatchEvent(event)
    }
    const send = stream.send.bind(stream)
    stream.send = (data) => {
      counts.sent += data.byteLength
      return send(data)
    }
  }
}
