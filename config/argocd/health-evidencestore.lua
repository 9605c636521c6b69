-- Argo CD health check for soc2.dev/EvidenceStore (soc2-operator).
--
-- Registered as resource.customizations.health.soc2.dev_EvidenceStore in argocd-cm (config/argocd/
-- argocd-cm-patch.yaml inlines this file verbatim; tests/argocd_health/ fails when they differ). Same constraints
-- as health-control.lua: gopher-lua (Lua 5.1) with only the base, table and a reduced os library; never raises.
-- Argo CD runs each script on its own (no require), so the small helpers below repeat those of the others.
--
--   Progressing  no status yet, status.observedGeneration < metadata.generation, or no Ready condition yet
--   Healthy      Ready=True: the last snapshot attempt succeeded (the message names the last snapshot written)
--   Degraded     Ready=False: the spec is invalid (InvalidSpec) or snapshots are failing (SnapshotFailed: storage
--                down, credentials wrong); the message says why. Evidence that is not being written is a gap an
--                auditor will see, so it must not look Healthy.

local function field(t, key)
  if type(t) == "table" then
    return t[key]
  end
  return nil
end

local function nonempty(v)
  if type(v) == "string" and v ~= "" then
    return v
  end
  return nil
end

local function number(v)
  if type(v) == "number" then
    return v
  end
  if type(v) == "string" then
    return tonumber(v)
  end
  return nil
end

local function condition(status, condition_type)
  local conditions = field(status, "conditions")
  if type(conditions) ~= "table" then
    return nil
  end
  for _, c in ipairs(conditions) do
    if type(c) == "table" and c.type == condition_type then
      return c
    end
  end
  return nil
end

local function health(obj)
  local status = field(obj, "status")
  if type(status) ~= "table" or next(status) == nil then
    return { status = "Progressing", message = "waiting for the first evidence snapshot" }
  end
  local generation = number(field(field(obj, "metadata"), "generation"))
  local observed = number(status.observedGeneration)
  if generation ~= nil and (observed == nil or observed < generation) then
    return { status = "Progressing", message = "applying generation " .. tostring(generation) }
  end
  local ready = condition(status, "Ready")
  if ready == nil then
    return { status = "Progressing", message = "waiting for the first evidence snapshot (no Ready condition yet)" }
  end
  if ready.status == "True" then
    local last = field(status, "lastSnapshot")
    local uri = nonempty(field(last, "uri"))
    local time = nonempty(field(last, "time"))
    if uri and time then
      return { status = "Healthy", message = "last snapshot " .. uri .. " at " .. time }
    end
    return { status = "Healthy", message = nonempty(ready.message) or "snapshots are being written" }
  end
  if ready.status == "False" then
    return {
      status = "Degraded",
      message = nonempty(ready.message) or nonempty(ready.reason) or "evidence snapshots are failing",
    }
  end
  return { status = "Progressing", message = nonempty(ready.message) or "waiting for the first evidence snapshot" }
end

local ok, hs = pcall(health, obj)
if ok and type(hs) == "table" then
  return hs
end
return { status = "Unknown", message = "the soc2.dev/EvidenceStore health check failed: " .. tostring(hs) }
