-- How many members a conversation has lost. RemoveMember increments it under the conversation's
-- row lock, the lock Append takes to reserve seqs, so a message stored after a removal reads the
-- new count (chat.Message.MemberRemovals) and gateways re-check membership before delivering it.
ALTER TABLE conversations ADD COLUMN member_removals bigint NOT NULL DEFAULT 0;
