import assert from "node:assert/strict";
import { checkDisk, checkDocker, checkJupyter, checkPort } from "./host_checks.ts";
import { checkAz, checkStorage } from "./azure_checks.ts";
import { fakeEnvironment } from "./_testing.ts";
import { loadSettings } from "../config.ts";

Deno.test("disk: free space of the nearest existing folder against 93 GB, in three grades", async () => {
  const at = (free: number) =>
    checkDisk(fakeEnvironment({ dirs: ["/mnt"], disk: { free, total: 512e9 } }), "/mnt/data/nih");
  const ok = await at(400e9);
  assert.equal(ok.status, "ok");
  assert.equal(
    ok.detail,
    "400.0 GB free of 512.0 GB at /mnt (nearest existing folder of /mnt/data/nih); the full data set needs " +
      "~93.0 GB (45.0 GB archives + 42.0 GB images + 6.0 GB cache)",
  );
  const tight = await at(60e9);
  assert.equal(tight.status, "warn");
  assert.match(tight.fix!, /one at a time.*512 GB data disk/);
  assert.equal((await at(20e9)).status, "fail");
});

Deno.test("docker: the CLI alone fails; an engine answering /_ping on the socket or DOCKER_HOST passes", async () => {
  const cli = { "docker --version": { stdout: "Docker version 28.2.2, build e6534b4\n" } };
  const ping = { status: 200, headers: { "api-version": "1.50" }, body: "OK" };
  const cliOnly = await checkDocker(fakeEnvironment({ programs: cli }));
  assert.equal(cliOnly.status, "fail");
  assert.match(cliOnly.detail, /no engine answers at unix:\/\/\/var\/run\/docker\.sock/);
  const socket = await checkDocker(
    fakeEnvironment({ programs: cli, http: { "unix:/var/run/docker.sock": ping } }),
  );
  assert.deepEqual([socket.status, socket.detail], [
    "ok",
    "Docker version 28.2.2, build e6534b4; engine answers at unix:///var/run/docker.sock (API 1.50)",
  ]);
  const tcp = await checkDocker(fakeEnvironment({
    programs: cli,
    vars: { DOCKER_HOST: "tcp://10.0.0.4:2375" },
    http: { "http://10.0.0.4:2375/_ping": ping },
  }));
  assert.equal(tcp.status, "ok");
  assert.equal((await checkDocker(fakeEnvironment({}))).status, "warn");
});

Deno.test("jupyter: the deno kernelspec must be listed and its deno binary present", async () => {
  const specs = (argv0: string) => ({
    "/usr/bin/jupyter kernelspec list --json": {
      stdout: JSON.stringify({
        kernelspecs: {
          python3: { resource_dir: "/usr/share/jupyter/kernels/python3", spec: { argv: ["python3"] } },
          deno: {
            resource_dir: "/root/.local/share/jupyter/kernels/deno",
            spec: { argv: [argv0, "jupyter"] },
          },
        },
      }),
    },
  });
  const ok = await checkJupyter(fakeEnvironment({ programs: specs("/opt/deno"), dirs: ["/opt/deno"] }));
  assert.deepEqual([ok.status, ok.detail], ["ok", "kernels: deno, python3; deno kernel runs /opt/deno"]);
  const gone = await checkJupyter(fakeEnvironment({ programs: specs("/opt/deno") }));
  assert.equal(gone.status, "fail");
  assert.match(gone.fix!, /install_kernel\.sh/);
  assert.equal((await checkJupyter(fakeEnvironment({}))).status, "fail");
});

Deno.test("ports: free, held by a Jupyter server (fine), or held by something else (named)", async () => {
  const what = { id: "port-jupyter", title: "Jupyter", variable: "CXR_JUPYTER_PORT" };
  assert.equal((await checkPort(fakeEnvironment({}), 10002, what)).status, "ok");
  const jupyter = await checkPort(
    fakeEnvironment({
      portsInUse: [10002],
      http: { "http://127.0.0.1:10002/api": { status: 200, headers: {}, body: '{"version": "6.4.12"}' } },
    }),
    10002,
    what,
  );
  assert.deepEqual([jupyter.status, jupyter.detail], [
    "ok",
    "a Jupyter server (6.4.12) already serves port 10002",
  ]);
  const other = await checkPort(
    fakeEnvironment({
      portsInUse: [10002],
      programs: {
        "ss -ltnpH sport = :10002": {
          stdout: 'LISTEN 0 5 0.0.0.0:10002 0.0.0.0:* users:(("python3",pid=4242,fd=3))\n',
        },
      },
    }),
    10002,
    what,
  );
  assert.equal(other.status, "warn");
  assert.equal(other.detail, "port 10002 is in use by another program — process python3 (pid 4242)");
  assert.match(other.fix!, /CXR_JUPYTER_PORT/);
});

Deno.test("az: missing, logged out and logged in, without printing tokens", async () => {
  assert.equal((await checkAz(fakeEnvironment({}))).status, "warn");
  const version = { "az version --output json": { stdout: '{"azure-cli": "2.67.0"}' } };
  const out = await checkAz(
    fakeEnvironment({ programs: { ...version, "az account show --output json": { code: 1 } } }),
  );
  assert.deepEqual([out.status, out.detail], ["warn", "az 2.67.0, not logged in"]);
  const account = { id: "0000-sub", name: "Research", user: { name: "ana@example.org", type: "user" } };
  const ok = await checkAz(fakeEnvironment({
    programs: { ...version, "az account show --output json": { stdout: JSON.stringify(account) } },
  }));
  assert.deepEqual([ok.status, ok.detail], ["ok", "az 2.67.0, logged in as ana@example.org (Research)"]);
});

Deno.test("storage: Azurite port free, already Azurite, or taken; Azure names the credential kind only", async () => {
  const azurite = loadSettings({ env: {}, envFile: false }).storage;
  assert.equal((await checkStorage(fakeEnvironment({}), azurite)).status, "ok");
  const running = await checkStorage(
    fakeEnvironment({
      portsInUse: [10000],
      http: {
        "http://127.0.0.1:10000/devstoreaccount1?comp=list": {
          status: 403,
          headers: { server: "Azurite-Blob/3.37.0" },
          body: "",
        },
      },
    }),
    azurite,
  );
  assert.deepEqual([running.status, running.detail], [
    "ok",
    "Azurite already runs on port 10000 (Azurite-Blob/3.37.0)",
  ]);
  assert.equal((await checkStorage(fakeEnvironment({ portsInUse: [10000] }), azurite)).status, "warn");
  const azure = loadSettings({
    env: { AZURE_STORAGE_ACCOUNT: "cxrdata", AZURE_STORAGE_KEY: "c2VjcmV0LWtleS12YWx1ZQ==" },
    envFile: false,
  }).storage;
  const a = await checkStorage(fakeEnvironment({}), azure);
  assert.deepEqual([a.status, a.detail], ["ok", "account cxrdata with an account key"]);
});
