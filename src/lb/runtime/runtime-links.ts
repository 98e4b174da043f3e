import type { CertStore } from '../../certs/store.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { parseEndpoint } from '../../util/endpoint.js';
import { socketCommand } from './haproxy-socket.js';
import { RuntimeLink } from './runtime-link.js';

/** How long one command to a stats socket may take; a commit rebuilds SSL contexts, which is quick. */
const COMMAND_TIMEOUT_MS = 10_000;

/** The runtime API of each --lb that has one (--lb-runtime), by the LB's display URL. */
export function runtimeLinks(config: Pick<Config, 'lbUrls' | 'lbRuntime'>, store: CertStore, logger: Logger): Map<string, RuntimeLink> {
  const links = new Map<string, RuntimeLink>();
  config.lbUrls.forEach((url, i) => {
    const target = config.lbRuntime[i];
    if (target === undefined) return;
    const lb = parseEndpoint(url).display;
    links.set(
      lb,
      new RuntimeLink({
        lb,
        socket: target.display,
        command: socketCommand(target, COMMAND_TIMEOUT_MS),
        readBundle: (name) => store.readText(`certs/${name}.pem`),
        logger,
      }),
    );
  });
  return links;
}
