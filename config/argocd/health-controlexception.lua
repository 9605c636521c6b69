-- Argo CD health check for soc2.dev/ControlException (soc2-operator).
--
-- Registered as resource.customizations.health.soc2.dev_ControlException in argocd-cm (config/argocd/
-- argocd-cm-patch.yaml inlines this file verbatim; tests/argocd_health/ fails when they differ). Same constraints
-- as health-control.lua: gopher-lua (Lua 5.1) with only the base, table and a reduced os library; never raises.
-- Argo CD runs each script on its own (no require), so the small helpers below repeat those of the others.
--
--   Progressing  no status yet, status.observedGeneration < metadata.generation, or no state yet
--   Healthy      state Active: the waiver is approved and in force (the operator's message names the approver, the
--                ticket and the expiry), with how many failing findings it waives now
--   Degraded     state Expired (the waived findings fail again: renew it with a new approval, or remove it) or
--                state Invalid (it waives nothing; the message says what to fix)
--
-- The state is the operator's: it turns Expired at expiresAt, when the operator re-assesses the exception.

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

-- "; it waives 3 failing findings now", or nothing when the operator could not count them.
local function matched(status)
  local n = number(status.matchedFindings)
  if n == nil then
    return ""
  end
  if n == 0 then
    return "; it waives no failing finding now"
  end
  if n == 1 then
    return "; it waives 1 failing finding now"
  end
  return "; it waives " .. tostring(n) .. " failing findings now"
end

local function health(obj)
  local status = field(obj, "status")
  if type(status) ~= "table" or next(status) == nil then
    return { status = "Progressing", message = "waiting for the operator to assess the exception" }
  end
  local generation = number(field(field(obj, "metadata"), "generation"))
  local observed = number(status.observedGeneration)
  if generation ~= nil and (observed == nil or observed < generation) then
    return { status = "Progressing", message = "assessing generation " .. tostring(generation) }
  end
  local control = nonempty(field(field(obj, "spec"), "control")) or "its control"
  local state = status.state
  if state == nil then
    return { status = "Progressing", message = "waiting for the operator to assess the exception" }
  end
  if state == "Active" then
    local message = nonempty(status.message) or ("waives findings of control " .. control)
    return { status = "Healthy", message = message .. matched(status) }
  end
  if state == "Expired" then
    local message = "expired; the findings of control " .. control .. " it covered fail again"
    return { status = "Degraded", message = nonempty(status.message) or message }
  end
  if state == "Invalid" then
    return {
      status = "Degraded",
      message = nonempty(status.message) or nonempty(status.reason) or "invalid: the exception waives nothing",
    }
  end
  return { status = "Unknown", message = "the exception has an unexpected state" }
end

local ok, hs = pcall(health, obj)
if ok and type(hs) == "table" then
  return hs
end
return { status = "Unknown", message = "the soc2.dev/ControlException health check failed: " .. tostring(hs) }
