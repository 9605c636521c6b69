-- Argo CD health check for soc2.dev/Control (soc2-operator).
--
-- Registered as resource.customizations.health.soc2.dev_Control in argocd-cm: config/argocd/argocd-cm-patch.yaml
-- inlines this file verbatim, and tests/argocd_health/ fails when the two differ. See docs/argocd.md.
--
-- Argo CD runs it with gopher-lua (Lua 5.1) and, for scripts from argocd-cm, opens only the base, table and a
-- reduced os library: no string or math library, and strings have no methods. This script therefore uses nothing
-- else. Any field of obj may be missing or of the wrong type; the script never raises an error (and answers Unknown
-- should it ever fail).
--
--   Progressing  no status yet, status.observedGeneration < metadata.generation, or no Ready condition yet
--   Degraded     Ready=False (an invalid spec; the message names the field), Compliant=False (how many resources
--                fail which criteria, and the first failing resource's message), or Compliant=Unknown
--   Healthy      Ready=True and Compliant=True
--
-- Compliant=Unknown is Degraded on purpose. The operator says Unknown when data needed to decide is missing (a kind
-- it cannot read, a managed control plane without an attestation); it does not resolve on its own as Progressing
-- would suggest, and for an auditor missing evidence is a finding in itself, so it must not look Healthy either.
-- AdmissionEnforced does not affect health: it says whether the admission webhook acts on the control's mode, not
-- whether the cluster complies.

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

-- "CC6.1, CC6.3" from spec.criteria, skipping anything that is not a string.
local function criteria(obj)
  local list = field(field(obj, "spec"), "criteria")
  if type(list) == "string" then
    return list
  end
  local ids = {}
  if type(list) == "table" then
    for _, id in ipairs(list) do
      if nonempty(id) then
        ids[#ids + 1] = id
      end
    end
  end
  return table.concat(ids, ", ")
end

-- The message of the first finding with this result (findings are sorted: Fail, then Unknown, then Notice).
local function first_finding(status, result)
  local findings = field(status, "findings")
  if type(findings) ~= "table" then
    return nil
  end
  for _, f in ipairs(findings) do
    if type(f) == "table" and f.result == result and nonempty(f.message) then
      return f.message
    end
  end
  return nil
end

local function with_detail(message, detail)
  if detail == nil then
    return message
  end
  return message .. ": " .. detail
end

-- "3 of 12 resources fail CC6.1, CC6.3: <first failing resource's message>"
local function failing_message(obj, status, compliant)
  local summary = field(status, "summary")
  local failed = number(field(summary, "failed"))
  local evaluated = number(field(summary, "evaluated"))
  local ids = criteria(obj)
  local message
  if failed ~= nil and evaluated ~= nil then
    message = tostring(failed) .. " of " .. tostring(evaluated) .. " resources fail"
    if ids ~= "" then
      message = message .. " " .. ids
    else
      message = message .. " the control"
    end
  else
    message = nonempty(compliant.message) or "the control fails"
    if ids ~= "" then
      message = message .. " (" .. ids .. ")"
    end
  end
  return with_detail(message, first_finding(status, "Fail"))
end

local function health(obj)
  local status = field(obj, "status")
  if type(status) ~= "table" or next(status) == nil then
    return { status = "Progressing", message = "waiting for the first evaluation" }
  end

  local generation = number(field(field(obj, "metadata"), "generation"))
  local observed = number(status.observedGeneration)
  if generation ~= nil and (observed == nil or observed < generation) then
    return { status = "Progressing", message = "evaluating generation " .. tostring(generation) }
  end

  local ready = condition(status, "Ready")
  if ready == nil then
    return { status = "Progressing", message = "waiting for the first evaluation (no Ready condition yet)" }
  end
  if ready.status == "False" then
    return {
      status = "Degraded",
      message = nonempty(ready.message) or nonempty(ready.reason) or "the control is not ready",
    }
  end
  if ready.status ~= "True" then
    local message = nonempty(ready.message) or "waiting for the control to become ready"
    return { status = "Progressing", message = message }
  end

  local compliant = condition(status, "Compliant")
  if compliant == nil then
    return { status = "Progressing", message = "waiting for the Compliant condition" }
  end
  if compliant.status == "True" then
    return { status = "Healthy", message = nonempty(compliant.message) or "compliant" }
  end
  if compliant.status == "False" then
    return { status = "Degraded", message = failing_message(obj, status, compliant) }
  end
  if compliant.status == "Unknown" then
    local message = nonempty(compliant.message) or "compliance could not be determined for lack of data"
    return { status = "Degraded", message = with_detail(message, first_finding(status, "Unknown")) }
  end
  return { status = "Unknown", message = "the Compliant condition has an unexpected status" }
end

local ok, hs = pcall(health, obj)
if ok and type(hs) == "table" then
  return hs
end
return { status = "Unknown", message = "the soc2.dev/Control health check failed: " .. tostring(hs) }
