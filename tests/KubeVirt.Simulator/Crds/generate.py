#!/usr/bin/env python3
# Regenerates the CustomResourceDefinitions in this folder (committed test data for a real kube-apiserver):
#   virtualmachines.kubevirt.io.json                  schema = ../shared/kubevirt-schemas/kubevirt-crd-virtualmachine.json
#   datavolumes.cdi.kubevirt.io.json                  schema = ../shared/kubevirt-schemas/cdi-crd-datavolume-v1beta1.json
#   virtualmachineinstances.kubevirt.io.json          schema converted from ../shared/kubevirt-schemas/kubevirt-swagger.json
#   virtualmachineinstancemigrations.kubevirt.io.json   (v1.VirtualMachineInstance, v1.VirtualMachineInstanceMigration)
# Names, short names, categories, subresources and printer columns are KubeVirt's and CDI's own (virt-operator's
# components/crds.go, CDI's crds_generated.go). Python 3, stdlib only. Run from anywhere:
#   python3 tests/KubeVirt.Simulator/Crds/generate.py           write the four files
#   python3 tests/KubeVirt.Simulator/Crds/generate.py --check   also convert v1.VirtualMachine by the rules alone and
#                                                               list what still differs from KubeVirt's own schema
import json, os, sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'kubevirt-schemas')
load = lambda name: json.load(open(os.path.join(SCHEMAS, name)))
DEFS = load('kubevirt-swagger.json')['definitions']
VM_SCHEMA = load('kubevirt-crd-virtualmachine.json')
DV_SCHEMA = load('cdi-crd-datavolume-v1beta1.json')

# --- swagger (OpenAPI v2, openapi-gen) -> structural schema as KubeVirt's generator (controller-gen) writes it ---
INT_OR_STRING = {'anyOf': [{'type': 'integer'}, {'type': 'string'}], 'x-kubernetes-int-or-string': True}
QUANTITY = dict(INT_OR_STRING, pattern=r'^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|'
                                       r'([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$')
KNOWN = {  # apimachinery types controller-gen writes from fixed schemas (no description of their own)
    'k8s.io.apimachinery.pkg.api.resource.Quantity': QUANTITY,
    'k8s.io.apimachinery.pkg.util.intstr.IntOrString': INT_OR_STRING,
    'k8s.io.apimachinery.pkg.apis.meta.v1.Time': {'type': 'string', 'format': 'date-time'},
    'k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta': {'type': 'object'},
}
TYPE_LISTS = {  # KubeVirt's swagger post-processing writes these as type lists
    ('string', 'null'): {'type': 'string', 'format': 'date-time', 'nullable': True},  # +nullable metav1.Time
    ('string', 'number'): INT_OR_STRING,
    ('string', 'integer', 'number'): QUANTITY,
}
# openapi-gen's zero-value defaults and k8s "+enum" enums, type-level nullable, patch-strategy hints: not in the CRD
DROP = {'$ref', 'default', 'enum', 'nullable', 'x-kubernetes-patch-strategy', 'x-kubernetes-patch-merge-key'}
# Go field markers the swagger does not carry, for fields outside what LEARNED covers
# (read from kubevirt staging/src/kubevirt.io/api/core/v1/types.go at the commit of the inputs).
MARKERS = {
    ('v1.VirtualMachineInstanceStatus', 'VSOCKCID'): {'minimum': 0, 'maximum': 4294967295},
    ('v1.VirtualMachineInstanceStatus', 'changedBlockTracking'): {'nullable': True},
    ('v1.VirtualMachineInstanceMigrationState', 'startTimestamp'): {'nullable': True},
    ('v1.VirtualMachineInstanceMigrationState', 'endTimestamp'): {'nullable': True},
    ('v1.ContainerDiskInfo', 'checksum'): {'minimum': 0, 'maximum': 4294967295},
    ('v1.KernelInfo', 'checksum'): {'minimum': 0, 'maximum': 4294967295},
    ('v1.InitrdInfo', 'checksum'): {'minimum': 0, 'maximum': 4294967295},
    ('v1.VMIMConfigurationOptions', 'maxDowntimeMs'): {'minimum': 1, 'maximum': 2000000},
    ('v1.ExperimentalMigrationOptions', 'compression'): {'enum': ['none', 'zstd']},
    ('v1.DowntimeTuningOptions', 'initialMs'): {'minimum': 1},
    ('v1.DowntimeTuningOptions', 'steps'): {'minimum': 1},
    ('v1.DowntimeTuningOptions', 'startAfterIteration'): {'minimum': 1},
    ('v1.DowntimeTuningOptions', 'cooldownSeconds'): {'minimum': 1},
    ('v1.StallDetectorOptions', 'stallMargin'): {'minimum': 0, 'maximum': 100},
    ('v1.StallDetectorOptions', 'stallProgressTimeout'): {'minimum': 0},
    ('v1.StallDetectorOptions', 'switchoverTimeout'): {'minimum': 0},
}
# (definition, property) -> KubeVirt's own schema for that Go field, learned from the VirtualMachine schema. A field's
# schema depends only on the field, so wherever it recurs (the whole VMI spec is the VM's spec.template.spec) this is
# exactly what KubeVirt generates, markers, line breaks and integer formats included.
LEARNED = {}


def ref(node):
    return node['$ref'].split('/')[-1] if '$ref' in node else None


def learn(name, schema):
    for prop, node in DEFS[name].get('properties', {}).items():
        sub = LEARNED[(name, prop)] = schema['properties'][prop]
        while ref(node) is None and isinstance(node.get('items', node.get('additionalProperties')), dict):
            key = 'items' if 'items' in node else 'additionalProperties'
            node, sub = node[key], sub[key]
        if ref(node) and ref(node) not in KNOWN:
            learn(ref(node), sub)


def convert(node, stack=(), use_learned=True):
    name = ref(node)
    if name in stack:
        sys.exit('recursive type %s: not expected in these kinds' % name)
    out = dict(KNOWN[name]) if name in KNOWN else convert(DEFS[name], stack + (name,), use_learned) if name else {}
    for key, value in node.items():  # the referring field's own keys (description, ...) override the type's
        if key in DROP:
            continue
        if key == 'properties':
            owner = stack[-1]
            out[key] = {p: LEARNED[(owner, p)] if use_learned and (owner, p) in LEARNED else
                        dict(convert(v, stack, use_learned), **MARKERS.get((owner, p), {})) for p, v in value.items()}
        elif key in ('items', 'additionalProperties') and isinstance(value, dict):
            out[key] = convert(value, stack, use_learned)
        elif key == 'description':  # openapi-gen appends enum docs; KubeVirt's generator turns backticks into '
            out[key] = value.split('\n\nPossible enum values:')[0].replace('`', "'")
        elif key == 'required':
            out[key] = sorted(value)
        elif key == 'type' and isinstance(value, list):
            out.update(TYPE_LISTS[tuple(value)])
        else:
            out[key] = value
    return out


def kind_schema(kind):
    return convert({'$ref': '#/definitions/v1.' + kind})


# --- the CRD envelopes ---
def column(name, json_path, type_='string', description=None, priority=None):
    col = {'description': description, 'jsonPath': json_path, 'name': name, 'priority': priority, 'type': type_}
    return {k: v for k, v in col.items() if v is not None}


AGE = column('Age', '.metadata.creationTimestamp', 'date')
READY = column('Ready', ".status.conditions[?(@.type=='Ready')].status")


def crd(group, kind, plural, short_names, version, schema, columns, status_subresource, component):
    ver = {'name': version, 'served': True, 'storage': True, 'schema': {'openAPIV3Schema': schema}}
    if status_subresource:
        ver['subresources'] = {'status': {}}
    ver['additionalPrinterColumns'] = columns
    return {
        'apiVersion': 'apiextensions.k8s.io/v1', 'kind': 'CustomResourceDefinition',
        'metadata': {'name': plural + '.' + group, 'labels': {'app.kubernetes.io/component': component}},
        'spec': {'group': group, 'scope': 'Namespaced',
                 'names': {'kind': kind, 'listKind': kind + 'List', 'plural': plural, 'singular': kind.lower(),
                           'shortNames': short_names, 'categories': ['all']},
                 'versions': [ver]}}


def main():
    learn('v1.VirtualMachine', VM_SCHEMA)
    crds = [
        crd('kubevirt.io', 'VirtualMachine', 'virtualmachines', ['vm', 'vms'], 'v1', VM_SCHEMA,
            [AGE, column('Status', '.status.printableStatus', description='Human Readable Status'), READY],
            True, 'kubevirt'),
        # KubeVirt gives VirtualMachineInstance no status subresource: its controllers write status with the object.
        crd('kubevirt.io', 'VirtualMachineInstance', 'virtualmachineinstances', ['vmi', 'vmis'], 'v1',
            kind_schema('VirtualMachineInstance'),
            [AGE, column('Phase', '.status.phase'), column('IP', '.status.interfaces[0].ipAddress'),
             column('NodeName', '.status.nodeName'), READY,
             column('Live-Migratable', ".status.conditions[?(@.type=='LiveMigratable')].status", priority=1),
             column('Paused', ".status.conditions[?(@.type=='Paused')].status", priority=1)],
            False, 'kubevirt'),
        crd('kubevirt.io', 'VirtualMachineInstanceMigration', 'virtualmachineinstancemigrations', ['vmim', 'vmims'],
            'v1', kind_schema('VirtualMachineInstanceMigration'),
            [column('Phase', '.status.phase', description='The current phase of VM instance migration'),
             column('VMI', '.spec.vmiName', description='The name of the VMI to perform the migration on')],
            True, 'kubevirt'),
        crd('cdi.kubevirt.io', 'DataVolume', 'datavolumes', ['dv', 'dvs'], 'v1beta1', DV_SCHEMA,
            [column('Phase', '.status.phase', description='The phase the data volume is in'),
             column('Progress', '.status.progress', description='Transfer progress in percentage if known, N/A otherwise'),
             column('Restarts', '.status.restartCount', 'integer', 'The number of times the transfer has been restarted.'),
             AGE],
            True, 'storage'),
    ]
    for c in crds:
        with open(os.path.join(HERE, c['metadata']['name'] + '.json'), 'w') as f:
            json.dump(c, f, indent=1, sort_keys=True)
            f.write('\n')
    if '--check' in sys.argv:
        check(convert({'$ref': '#/definitions/v1.VirtualMachine'}, use_learned=False), VM_SCHEMA, '')


def check(mine, theirs, path):  # prints each key where the rules-only conversion differs from KubeVirt's schema
    for key in sorted(set(mine) | set(theirs)):
        a, b = mine.get(key), theirs.get(key)
        if key == 'properties':
            for p in sorted(set(a or {}) | set(b or {})):
                check((a or {}).get(p, {}), (b or {}).get(p, {}), path + '.' + p)
        elif key in ('items', 'additionalProperties') and isinstance(a, dict) and isinstance(b, dict):
            check(a, b, path + '[' + key + ']')
        elif key == 'description' and a and b and a.split() == b.split():
            continue  # the swagger joins a comment's lines with spaces; the CRD keeps the line breaks
        elif a != b:
            print('%-14s %s: rules %s, KubeVirt %s' % (key, path, json.dumps(a), json.dumps(b)))


main()
