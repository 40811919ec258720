import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';

/**
 * The resource of poolscope's own provider: the SDK's defaults, then `OTEL_RESOURCE_ATTRIBUTES`,
 * then `service.name` from the option or `OTEL_SERVICE_NAME`, else the app's package name.
 */
export function buildResource(serviceName: string | undefined): Resource {
  const name = serviceName ?? appPackageName();
  const base = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  return name === undefined ? base : base.merge(resourceFromAttributes({ 'service.name': name }));
}

/** The `name` of the package.json nearest the app's entry script. */
function appPackageName(): string | undefined {
  const entry = process.argv[1];
  if (entry === undefined) return undefined;
  let folder = dirname(entry);
  for (let depth = 0; depth < 32; depth++) {
    try {
      const { name } = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')) as { name?: unknown };
      return typeof name === 'string' && name !== '' ? name : undefined;
    } catch {
      const parent = dirname(folder);
      if (parent === folder) return undefined;
      folder = parent;
    }
  }
  return undefined;
}
