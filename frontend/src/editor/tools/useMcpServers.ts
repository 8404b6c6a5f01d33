// The workspace's MCP servers, fetched when a tool picker first needs them (and again on demand:
// someone may have just registered one on the MCP servers page).
import { useCallback, useEffect, useState } from "react";
import { get } from "../../api";
import type { ApiError, McpServer } from "../../types";
import { errorsFrom } from "../../ui";

export function useMcpServers() {
  const [servers, setServers] = useState<McpServer[] | null>(null);
  const [errors, setErrors] = useState<ApiError[]>([]);
  const reload = useCallback(async () => {
    try {
      setServers(await get<McpServer[]>("/api/mcp-servers"));
      setErrors([]);
    } catch (error) {
      setErrors(errorsFrom(error));
    }
  }, []);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { servers, errors, reload };
}
