import { createContext, useContext } from "react";
import type { Me, Role } from "./api";

export interface Auth {
  me: Me;
  logout: () => Promise<void>;
}

export const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside a logged-in page");
  return auth;
}

const RANK: Record<Role, number> = { analyst: 0, marketer: 1, admin: 2 };

/** Whether `role` is at least `needed` (admin > marketer > analyst). */
export function hasRole(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

export function useCan(needed: Role): boolean {
  return hasRole(useAuth().me.role, needed);
}
