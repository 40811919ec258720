import { getHeapSnapshot } from 'node:v8';

/**
 * Takes a heap snapshot of this process and counts objects: by constructor name, and by a
 * property they hold (for records that are plain objects). Returns `{ [label]: count }`.
 * `byName`: `{ label: 'ConstructorName' }`; `byProperty`: `{ label: ['propertyA', 'propertyB'] }`
 * (an object counts when it has every listed property).
 */
export async function heapCensus({ byName = {}, byProperty = {} }) {
  const chunks = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk);
  const { snapshot, nodes, edges, strings } = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const nodeFields = snapshot.meta.node_fields;
  const edgeFields = snapshot.meta.edge_fields;
  const nodeTypes = snapshot.meta.node_types[0];
  const edgeTypes = snapshot.meta.edge_types[0];
  const N = nodeFields.length;
  const E = edgeFields.length;
  const typeAt = nodeFields.indexOf('type');
  const nameAt = nodeFields.indexOf('name');
  const edgeCountAt = nodeFields.indexOf('edge_count');
  const edgeTypeAt = edgeFields.indexOf('type');
  const edgeNameAt = edgeFields.indexOf('name_or_index');
  const objectType = nodeTypes.indexOf('object');
  const propertyType = edgeTypes.indexOf('property');

  const counts = Object.fromEntries([...Object.keys(byName), ...Object.keys(byProperty)].map((label) => [label, 0]));
  const names = new Map(Object.entries(byName).map(([label, name]) => [name, label]));
  const wanted = Object.entries(byProperty);
  let edge = 0;
  for (let node = 0; node < nodes.length; node += N) {
    const edgeCount = nodes[node + edgeCountAt];
    if (nodes[node + typeAt] === objectType) {
      const label = names.get(strings[nodes[node + nameAt]]);
      if (label !== undefined) counts[label]++;
      if (wanted.length > 0) {
        const properties = new Set();
        for (let e = edge; e < edge + edgeCount * E; e += E) {
          if (edges[e + edgeTypeAt] === propertyType) properties.add(strings[edges[e + edgeNameAt]]);
        }
        for (const [propertyLabel, required] of wanted) {
          if (required.every((property) => properties.has(property))) counts[propertyLabel]++;
        }
      }
    }
    edge += edgeCount * E;
  }
  return counts;
}
