/**
 * A gauge whose series are made from the daemon's own data when Prometheus scrapes, and dropped again
 * right after, for the series there is one of per certificate or per (lb, domain) pair.
 *
 * prom-client keeps every series as an object with a key string built from its labels, and a gauge
 * can only be brought up to date by setting each series again, which makes them anew. With 5,000
 * certificates that was 15,000 series rebuilt after every renewal check and 10,000 after every
 * delivery look, held from one update to the next: megabytes that lived long enough to reach V8's
 * old generation and raised the daemon's peak memory. The data they show is in memory anyway (the
 * last list handed over); made at scrape time, the series are short-lived garbage once per scrape.
 */
import { Gauge, type GaugeConfiguration } from 'prom-client';

/** prom-client's label values for a series (its own type is not exported). */
export type SeriesLabels<T extends string> = Partial<Record<T, string | number>>;

/** Called at each scrape with the function that adds one series. */
export type SeriesSource<T extends string> = (add: (labels: SeriesLabels<T>, value: number) => void) => void;

export class ScrapeTimeGauge<T extends string> extends Gauge<T> {
  constructor(
    configuration: GaugeConfiguration<T>,
    private readonly source: SeriesSource<T>,
  ) {
    super(configuration);
  }

  override async get(): ReturnType<Gauge<T>['get']> {
    this.reset();
    try {
      this.source((labels, value) => {
        this.set(labels, value);
      });
      return await super.get();
    } finally {
      this.reset();
    }
  }
}
