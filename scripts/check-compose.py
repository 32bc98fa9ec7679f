"""Validates a compose file against the Compose specification's JSON schema and checks
what the schema cannot: build contexts exist, ${VAR} references are well formed, and
every service built from this repository runs a command the binary knows."""

import os
import re
import sys

import jsonschema
import yaml

COMMANDS = {"serve", "worker", "migrate", "keys", "openapi"}


def main(compose_path: str, schema_path: str) -> int:
    with open(compose_path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    with open(schema_path, encoding="utf-8") as f:
        schema = yaml.safe_load(f)
    problems = [
        f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(compose)
    ]
    root = os.path.dirname(os.path.abspath(compose_path))
    with open(compose_path, encoding="utf-8") as f:
        text = f.read()
    for ref in re.findall(r"\$\{([^}]*)\}", text):
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*(?:(?::?-|:?\?)[^}]*)?", ref):
            problems.append(f"malformed variable reference ${{{ref}}}")
    services = compose.get("services", {})
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            if not os.path.isfile(os.path.join(root, context, "Dockerfile")):
                problems.append(f"services/{name}: no Dockerfile in build context {context!r}")
            command = service.get("command") or ["serve"]
            if command[0] not in COMMANDS:
                problems.append(f"services/{name}: order-notify has no command {command[0]!r}")
        for dependency in service.get("depends_on") or []:
            if dependency not in services:
                problems.append(f"services/{name}: depends on unknown service {dependency!r}")
    for problem in problems:
        print(f"{compose_path}: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{compose_path}: valid ({len(services)} services)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
