CREATE TABLE agent_namespaces (
	namespace TEXT NOT NULL, 
	description TEXT, 
	owner_agent_id TEXT, 
	admin_agents JSON NOT NULL, 
	member_agents JSON NOT NULL, 
	default_access_level VARCHAR(7) NOT NULL, 
	config JSON NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_agent_namespaces_is_active ON agent_namespaces (is_active);

CREATE UNIQUE INDEX ix_agent_namespaces_namespace ON agent_namespaces (namespace);

CREATE TABLE agent_teams (
	team_id TEXT NOT NULL, 
	team_name TEXT NOT NULL, 
	description TEXT, 
	members JSON NOT NULL, 
	leader_agent_id TEXT, 
	config JSON NOT NULL, 
	shared_namespace TEXT NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_agent_teams_is_active ON agent_teams (is_active);

CREATE UNIQUE INDEX ix_agent_teams_team_id ON agent_teams (team_id);

CREATE TABLE agents (
	agent_id TEXT NOT NULL, 
	display_name TEXT NOT NULL, 
	organization_id TEXT, 
	namespace TEXT NOT NULL, 
	agent_type TEXT, 
	capabilities JSON NOT NULL, 
	config JSON NOT NULL, 
	default_access_level VARCHAR(7) NOT NULL, 
	status VARCHAR(10) NOT NULL, 
	health_score FLOAT NOT NULL, 
	total_memories INTEGER NOT NULL, 
	total_tasks INTEGER NOT NULL, 
	successful_tasks INTEGER NOT NULL, 
	average_response_time_ms FLOAT, 
	trust_score FLOAT NOT NULL, 
	total_verifications INTEGER NOT NULL, 
	accurate_verifications INTEGER NOT NULL, 
	api_key_hash TEXT, 
	tier TEXT NOT NULL, 
	role TEXT DEFAULT 'viewer' NOT NULL, 
	last_active_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_agent_org_namespace ON agents (organization_id, namespace);

CREATE INDEX ix_agent_status_active ON agents (status, last_active_at);

CREATE INDEX ix_agent_type_status ON agents (agent_type, status);

CREATE UNIQUE INDEX ix_agents_agent_id ON agents (agent_id);

CREATE INDEX ix_agents_last_active_at ON agents (last_active_at);

CREATE INDEX ix_agents_namespace ON agents (namespace);

CREATE INDEX ix_agents_organization_id ON agents (organization_id);

CREATE INDEX ix_agents_role ON agents (role);

CREATE INDEX ix_agents_status ON agents (status);

CREATE INDEX ix_agents_tier ON agents (tier);

CREATE TABLE api_audit_log (
	endpoint VARCHAR(255) NOT NULL, 
	method VARCHAR(10) NOT NULL, 
	request_body JSON, 
	response_status INTEGER, 
	response_body JSON, 
	user_id VARCHAR(100), 
	ip_address VARCHAR(45), 
	duration_ms INTEGER, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT chk_method CHECK (method IN ('GET', 'POST', 'PUT', 'DELETE', 'PATCH'))
);

CREATE INDEX idx_api_audit_log_created_at ON api_audit_log (created_at);

CREATE INDEX idx_api_audit_log_endpoint ON api_audit_log (endpoint);

CREATE INDEX idx_api_audit_log_user_id ON api_audit_log (user_id);

CREATE TABLE detected_patterns (
	namespace VARCHAR(255) NOT NULL, 
	agent_id VARCHAR(36), 
	tool_sequence JSON NOT NULL, 
	pattern_hash VARCHAR(64) NOT NULL, 
	frequency INTEGER DEFAULT 3 NOT NULL, 
	avg_success_rate FLOAT DEFAULT (1.0) NOT NULL, 
	avg_execution_time_ms FLOAT, 
	sop_draft TEXT, 
	sop_title VARCHAR(255), 
	state VARCHAR(50) DEFAULT 'DETECTED' NOT NULL, 
	skill_id VARCHAR(36), 
	validation_errors JSON, 
	validated_at DATETIME, 
	approved_by VARCHAR(36), 
	approved_at DATETIME, 
	detected_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	last_occurrence_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_detected_patterns_state CHECK (state IN ('DETECTED', 'VALIDATING', 'VALIDATED', 'APPROVED', 'SKILL_CREATED', 'REJECTED')), 
	CONSTRAINT ck_detected_patterns_min_frequency CHECK (frequency >= 3), 
	CONSTRAINT ck_detected_patterns_success_rate CHECK (avg_success_rate >= 0.0 AND avg_success_rate <= 1.0), 
	UNIQUE (pattern_hash)
);

CREATE INDEX idx_detected_patterns_agent_state ON detected_patterns (agent_id, state);

CREATE INDEX idx_detected_patterns_namespace_state ON detected_patterns (namespace, state);

CREATE INDEX ix_detected_patterns_agent_id ON detected_patterns (agent_id);

CREATE INDEX ix_detected_patterns_namespace ON detected_patterns (namespace);

CREATE INDEX ix_detected_patterns_state ON detected_patterns (state);

CREATE TABLE discovered_tools (
	tool_id VARCHAR(100) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	category VARCHAR(50) NOT NULL, 
	source_path VARCHAR(500) NOT NULL, 
	version VARCHAR(20) NOT NULL, 
	tool_metadata JSON NOT NULL, 
	namespace VARCHAR(100) NOT NULL, 
	discovered_at DATETIME NOT NULL, 
	last_verified_at DATETIME, 
	is_active BOOLEAN NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX idx_discovered_tools_category_active ON discovered_tools (category, is_active);

CREATE INDEX idx_discovered_tools_category_namespace ON discovered_tools (category, namespace, is_active);

CREATE INDEX idx_discovered_tools_namespace_active ON discovered_tools (namespace, is_active);

CREATE INDEX ix_discovered_tools_category ON discovered_tools (category);

CREATE INDEX ix_discovered_tools_namespace ON discovered_tools (namespace);

CREATE UNIQUE INDEX ix_discovered_tools_tool_id ON discovered_tools (tool_id);

CREATE TABLE execution_traces (
	agent_id VARCHAR(36) NOT NULL, 
	namespace VARCHAR(255) NOT NULL, 
	tool_name VARCHAR(255) NOT NULL, 
	input_params JSON DEFAULT '{}' NOT NULL, 
	output_result JSON, 
	success BOOLEAN DEFAULT 1 NOT NULL, 
	error_message TEXT, 
	error_type VARCHAR(255), 
	execution_time_ms FLOAT DEFAULT (0.0) NOT NULL, 
	orchestration_id VARCHAR(36), 
	sequence_number INTEGER, 
	context_snapshot JSON, 
	pattern_id VARCHAR(36), 
	ttl_days INTEGER DEFAULT 30 NOT NULL, 
	expires_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_execution_traces_execution_time_positive CHECK (execution_time_ms >= 0), 
	CONSTRAINT ck_execution_traces_ttl_valid CHECK (ttl_days >= 1 AND ttl_days <= 3650)
);

CREATE INDEX idx_execution_traces_agent_tool ON execution_traces (agent_id, tool_name);

CREATE INDEX idx_execution_traces_pattern_detection ON execution_traces (namespace, created_at, orchestration_id, tool_name);

CREATE INDEX idx_execution_traces_sequence ON execution_traces (orchestration_id, sequence_number);

CREATE INDEX ix_execution_traces_agent_id ON execution_traces (agent_id);

CREATE INDEX ix_execution_traces_expires_at ON execution_traces (expires_at);

CREATE INDEX ix_execution_traces_namespace ON execution_traces (namespace);

CREATE INDEX ix_execution_traces_orchestration_id ON execution_traces (orchestration_id);

CREATE INDEX ix_execution_traces_pattern_id ON execution_traces (pattern_id);

CREATE INDEX ix_execution_traces_tool_name ON execution_traces (tool_name);

CREATE TABLE learning_patterns (
	pattern_name VARCHAR(255) NOT NULL, 
	agent_id TEXT, 
	namespace VARCHAR(100) DEFAULT 'default' NOT NULL, 
	category VARCHAR(100) NOT NULL, 
	subcategory VARCHAR(100), 
	access_level VARCHAR(20) DEFAULT 'private' NOT NULL, 
	pattern_data JSON NOT NULL, 
	version VARCHAR(50) DEFAULT '1.0.0' NOT NULL, 
	parent_pattern_id VARCHAR(36), 
	usage_count INTEGER DEFAULT 0 NOT NULL, 
	agent_usage_count INTEGER DEFAULT 0 NOT NULL, 
	success_rate FLOAT DEFAULT (0.0) NOT NULL, 
	agent_success_rate FLOAT DEFAULT (0.0) NOT NULL, 
	avg_execution_time FLOAT, 
	complexity_score FLOAT, 
	last_used_at DATETIME, 
	last_agent_used_at DATETIME, 
	shared_with_agents JSON, 
	learning_weight FLOAT DEFAULT (1.0) NOT NULL, 
	confidence_score FLOAT DEFAULT (0.5) NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_learning_patterns_name_namespace_agent UNIQUE (pattern_name, namespace, agent_id), 
	CONSTRAINT ck_learning_patterns_access_level CHECK (access_level IN ('private', 'shared', 'public', 'system')), 
	CONSTRAINT ck_learning_patterns_success_rate CHECK (success_rate >= 0.0 AND success_rate <= 1.0), 
	CONSTRAINT ck_learning_patterns_agent_success_rate CHECK (agent_success_rate >= 0.0 AND agent_success_rate <= 1.0), 
	CONSTRAINT ck_learning_patterns_confidence_score CHECK (confidence_score >= 0.0 AND confidence_score <= 1.0), 
	CONSTRAINT ck_learning_patterns_usage_count CHECK (usage_count >= 0), 
	CONSTRAINT ck_learning_patterns_agent_usage_count CHECK (agent_usage_count >= 0), 
	FOREIGN KEY(parent_pattern_id) REFERENCES learning_patterns (id) ON DELETE SET NULL
);

CREATE INDEX idx_learning_patterns_agent_namespace ON learning_patterns (agent_id, namespace);

CREATE INDEX idx_learning_patterns_category_access ON learning_patterns (category, access_level);

CREATE INDEX idx_learning_patterns_last_used ON learning_patterns (last_used_at);

CREATE INDEX idx_learning_patterns_usage ON learning_patterns (usage_count);

CREATE INDEX ix_learning_patterns_agent_id ON learning_patterns (agent_id);

CREATE INDEX ix_learning_patterns_category ON learning_patterns (category);

CREATE INDEX ix_learning_patterns_namespace ON learning_patterns (namespace);

CREATE INDEX ix_learning_patterns_parent_pattern_id ON learning_patterns (parent_pattern_id);

CREATE TABLE license_keys (
	id CHAR(32) NOT NULL, 
	agent_id CHAR(32) NOT NULL, 
	tier VARCHAR(13) NOT NULL, 
	license_key_hash VARCHAR(64) NOT NULL, 
	issued_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	is_active BOOLEAN NOT NULL, 
	revoked_at DATETIME, 
	revoked_reason TEXT, 
	PRIMARY KEY (id), 
	CONSTRAINT check_expiration_after_issuance CHECK (expires_at IS NULL OR expires_at > issued_at), 
	UNIQUE (license_key_hash)
);

CREATE INDEX idx_license_keys_agent ON license_keys (agent_id, is_active);

CREATE INDEX idx_license_keys_expiration ON license_keys (expires_at, is_active);

CREATE INDEX idx_license_keys_hash_lookup ON license_keys (license_key_hash, is_active);

CREATE INDEX ix_license_keys_agent_id ON license_keys (agent_id);

CREATE TABLE mcp_connections (
	server_name TEXT NOT NULL, 
	namespace TEXT NOT NULL, 
	agent_id TEXT NOT NULL, 
	status TEXT NOT NULL, 
	config_json JSON NOT NULL, 
	tools_json JSON DEFAULT '[]' NOT NULL, 
	error_message TEXT, 
	error_at DATETIME, 
	connected_at DATETIME, 
	disconnected_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_mcp_connection_namespace_agent ON mcp_connections (namespace, agent_id);

CREATE INDEX ix_mcp_connections_agent_id ON mcp_connections (agent_id);

CREATE INDEX ix_mcp_connections_namespace ON mcp_connections (namespace);

CREATE INDEX ix_mcp_connections_server_name ON mcp_connections (server_name);

CREATE INDEX ix_mcp_connections_status ON mcp_connections (status);

CREATE TABLE memories (
	content TEXT NOT NULL, 
	summary TEXT, 
	agent_id TEXT NOT NULL, 
	namespace TEXT NOT NULL, 
	embedding_model TEXT NOT NULL, 
	embedding_dimension INTEGER NOT NULL, 
	access_level VARCHAR(7) NOT NULL, 
	shared_with_agents JSON NOT NULL, 
	context JSON NOT NULL, 
	tags JSON NOT NULL, 
	source_url TEXT, 
	importance_score FLOAT NOT NULL, 
	relevance_score FLOAT NOT NULL, 
	access_count INTEGER NOT NULL, 
	learning_weight FLOAT NOT NULL, 
	pattern_ids JSON NOT NULL, 
	accessed_at DATETIME, 
	expires_at DATETIME, 
	version INTEGER NOT NULL, 
	parent_memory_id VARCHAR(36), 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(parent_memory_id) REFERENCES memories (id)
);

CREATE INDEX ix_memories_access_level ON memories (access_level);

CREATE INDEX ix_memories_accessed_at ON memories (accessed_at);

CREATE INDEX ix_memories_agent_created ON memories (agent_id, created_at);

CREATE INDEX ix_memories_agent_id ON memories (agent_id);

CREATE INDEX ix_memories_expires_at ON memories (expires_at);

CREATE INDEX ix_memories_namespace ON memories (namespace);

CREATE INDEX ix_memories_namespace_created ON memories (namespace, created_at);

CREATE INDEX ix_memories_parent_memory_id ON memories (parent_memory_id);

CREATE INDEX ix_memory_access_level ON memories (access_level, agent_id);

CREATE INDEX ix_memory_accessed ON memories (accessed_at, access_count);

CREATE INDEX ix_memory_agent_namespace ON memories (agent_id, namespace);

CREATE INDEX ix_memory_importance ON memories (importance_score, relevance_score);

CREATE TABLE memory_patterns (
	pattern_type TEXT NOT NULL, 
	agent_id TEXT NOT NULL, 
	namespace TEXT NOT NULL, 
	pattern_data JSON NOT NULL, 
	confidence FLOAT NOT NULL, 
	frequency INTEGER NOT NULL, 
	memory_ids JSON NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	last_triggered_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_memory_patterns_agent_id ON memory_patterns (agent_id);

CREATE INDEX ix_memory_patterns_is_active ON memory_patterns (is_active);

CREATE INDEX ix_memory_patterns_namespace ON memory_patterns (namespace);

CREATE INDEX ix_pattern_agent_type ON memory_patterns (agent_id, pattern_type);

CREATE INDEX ix_pattern_confidence ON memory_patterns (confidence, frequency);

CREATE TABLE personas (
	name TEXT NOT NULL, 
	type VARCHAR(9) NOT NULL, 
	role VARCHAR(12) NOT NULL, 
	display_name TEXT NOT NULL, 
	description TEXT NOT NULL, 
	specialties JSON NOT NULL, 
	tier TEXT, 
	emoji TEXT, 
	markdown_source TEXT, 
	version TEXT, 
	trigger_words JSON, 
	config JSON NOT NULL, 
	preferences JSON NOT NULL, 
	is_active BOOLEAN NOT NULL, 
	capabilities JSON NOT NULL, 
	total_tasks INTEGER NOT NULL, 
	successful_tasks INTEGER NOT NULL, 
	average_response_time FLOAT, 
	last_active_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_persona_active_last_active ON personas (is_active, last_active_at);

CREATE INDEX ix_persona_role_active ON personas (role, is_active);

CREATE INDEX ix_persona_type_active ON personas (type, is_active);

CREATE INDEX ix_personas_is_active ON personas (is_active);

CREATE INDEX ix_personas_last_active_at ON personas (last_active_at);

CREATE UNIQUE INDEX ix_personas_name ON personas (name);

CREATE INDEX ix_personas_role ON personas (role);

CREATE INDEX ix_personas_type ON personas (type);

CREATE TABLE phase_templates (
	template_id VARCHAR(255) NOT NULL, 
	template_type VARCHAR(14) NOT NULL, 
	display_name VARCHAR(255) NOT NULL, 
	description TEXT NOT NULL, 
	phases_json TEXT NOT NULL, 
	trigger_keywords_json TEXT DEFAULT '[]' NOT NULL, 
	task_complexity VARCHAR(6) NOT NULL, 
	estimated_duration VARCHAR(50) NOT NULL, 
	is_system BOOLEAN DEFAULT '0' NOT NULL, 
	is_active BOOLEAN DEFAULT '1' NOT NULL, 
	version VARCHAR(20) DEFAULT '1.0.0' NOT NULL, 
	usage_count INTEGER DEFAULT '0' NOT NULL, 
	success_rate FLOAT DEFAULT '0.0' NOT NULL, 
	is_deleted BOOLEAN DEFAULT '0' NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_phase_templates_complexity_active ON phase_templates (task_complexity, is_active);

CREATE INDEX ix_phase_templates_is_active ON phase_templates (is_active);

CREATE INDEX ix_phase_templates_is_deleted ON phase_templates (is_deleted);

CREATE INDEX ix_phase_templates_is_system ON phase_templates (is_system);

CREATE INDEX ix_phase_templates_system_active ON phase_templates (is_system, is_active);

CREATE INDEX ix_phase_templates_task_complexity ON phase_templates (task_complexity);

CREATE UNIQUE INDEX ix_phase_templates_template_id ON phase_templates (template_id);

CREATE INDEX ix_phase_templates_template_type ON phase_templates (template_type);

CREATE INDEX ix_phase_templates_type_active ON phase_templates (template_type, is_active);

CREATE TABLE security_audit_logs (
	id INTEGER NOT NULL, 
	event_type VARCHAR(50) NOT NULL, 
	severity VARCHAR(20) NOT NULL, 
	timestamp DATETIME NOT NULL, 
	client_ip VARCHAR(45) NOT NULL, 
	user_id VARCHAR(100), 
	session_id VARCHAR(100), 
	endpoint VARCHAR(255), 
	method VARCHAR(10), 
	user_agent VARCHAR(500), 
	referer VARCHAR(500), 
	message VARCHAR(1000), 
	details JSON, 
	location JSON, 
	risk_score INTEGER, 
	blocked BOOLEAN, 
	event_hash VARCHAR(16), 
	PRIMARY KEY (id)
);

CREATE INDEX idx_audit_logs_event_type_timestamp ON security_audit_logs (event_type, timestamp);

CREATE INDEX idx_audit_logs_timestamp_severity ON security_audit_logs (timestamp, severity);

CREATE INDEX ix_security_audit_logs_client_ip ON security_audit_logs (client_ip);

CREATE INDEX ix_security_audit_logs_event_hash ON security_audit_logs (event_hash);

CREATE INDEX ix_security_audit_logs_event_type ON security_audit_logs (event_type);

CREATE INDEX ix_security_audit_logs_risk_score ON security_audit_logs (risk_score);

CREATE INDEX ix_security_audit_logs_session_id ON security_audit_logs (session_id);

CREATE INDEX ix_security_audit_logs_severity ON security_audit_logs (severity);

CREATE INDEX ix_security_audit_logs_timestamp ON security_audit_logs (timestamp);

CREATE INDEX ix_security_audit_logs_user_id ON security_audit_logs (user_id);

CREATE TABLE skill_suggestions (
	orchestration_id VARCHAR(36) NOT NULL, 
	skill_id VARCHAR(36) NOT NULL, 
	agent_id VARCHAR(36) NOT NULL, 
	namespace VARCHAR(255) NOT NULL, 
	relevance_score FLOAT NOT NULL, 
	suggestion_reason TEXT, 
	was_activated BOOLEAN, 
	was_helpful BOOLEAN, 
	activated_at DATETIME, 
	feedback_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_skill_suggestions_relevance_score CHECK (relevance_score >= 0.0 AND relevance_score <= 1.0)
);

CREATE INDEX idx_skill_suggestions_effectiveness ON skill_suggestions (skill_id, was_activated, was_helpful);

CREATE INDEX ix_skill_suggestions_agent_id ON skill_suggestions (agent_id);

CREATE INDEX ix_skill_suggestions_namespace ON skill_suggestions (namespace);

CREATE INDEX ix_skill_suggestions_orchestration_id ON skill_suggestions (orchestration_id);

CREATE INDEX ix_skill_suggestions_skill_id ON skill_suggestions (skill_id);

CREATE TABLE task_templates (
	template_id TEXT NOT NULL, 
	name TEXT NOT NULL, 
	description TEXT, 
	title_template TEXT NOT NULL, 
	description_template TEXT NOT NULL, 
	required_fields JSON NOT NULL, 
	optional_fields JSON NOT NULL, 
	default_task_type TEXT NOT NULL, 
	default_priority VARCHAR(8) NOT NULL, 
	default_access_level TEXT NOT NULL, 
	default_config JSON NOT NULL, 
	estimated_duration INTEGER, 
	namespace TEXT NOT NULL, 
	created_by TEXT, 
	is_active BOOLEAN NOT NULL, 
	usage_count INTEGER NOT NULL, 
	success_rate FLOAT NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT default_access_level_check CHECK (default_access_level IN ('private', 'shared', 'public', 'system')), 
	CONSTRAINT estimated_duration_positive CHECK (estimated_duration IS NULL OR estimated_duration > 0), 
	CONSTRAINT success_rate_bounds CHECK (success_rate >= 0.0 AND success_rate <= 1.0)
);

CREATE INDEX idx_task_templates_namespace ON task_templates (namespace, is_active);

CREATE INDEX idx_task_templates_success ON task_templates (success_rate);

CREATE INDEX idx_task_templates_usage ON task_templates (usage_count);

CREATE INDEX ix_task_templates_is_active ON task_templates (is_active);

CREATE INDEX ix_task_templates_namespace ON task_templates (namespace);

CREATE UNIQUE INDEX ix_task_templates_template_id ON task_templates (template_id);

CREATE TABLE tasks (
	title TEXT NOT NULL, 
	description TEXT NOT NULL, 
	task_type TEXT NOT NULL, 
	assigned_agent_id TEXT, 
	collaborating_agents JSON NOT NULL, 
	namespace TEXT NOT NULL, 
	access_level TEXT NOT NULL, 
	status VARCHAR(9) NOT NULL, 
	priority VARCHAR(8) NOT NULL, 
	scheduled_at DATETIME, 
	started_at DATETIME, 
	completed_at DATETIME, 
	due_date DATETIME, 
	dependencies JSON NOT NULL, 
	parent_task_id VARCHAR(36), 
	workflow_id VARCHAR(36), 
	task_config JSON NOT NULL, 
	input_data JSON NOT NULL, 
	output_data JSON NOT NULL, 
	progress_percentage FLOAT NOT NULL, 
	estimated_duration INTEGER, 
	actual_duration INTEGER, 
	retry_count INTEGER NOT NULL, 
	max_retries INTEGER NOT NULL, 
	error_message TEXT, 
	error_details JSON NOT NULL, 
	execution_log JSON NOT NULL, 
	tags JSON NOT NULL, 
	context_tags JSON NOT NULL, 
	resource_requirements JSON NOT NULL, 
	resource_usage JSON NOT NULL, 
	quality_score FLOAT, 
	success_criteria JSON NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT title_not_empty CHECK (LENGTH(title) >= 1), 
	CONSTRAINT description_not_empty CHECK (LENGTH(description) >= 1), 
	CONSTRAINT access_level_check CHECK (access_level IN ('private', 'shared', 'public', 'system')), 
	CONSTRAINT progress_bounds CHECK (progress_percentage >= 0.0 AND progress_percentage <= 100.0), 
	CONSTRAINT estimated_duration_positive CHECK (estimated_duration IS NULL OR estimated_duration > 0), 
	CONSTRAINT actual_duration_non_negative CHECK (actual_duration IS NULL OR actual_duration >= 0), 
	CONSTRAINT retry_count_non_negative CHECK (retry_count >= 0), 
	CONSTRAINT max_retries_non_negative CHECK (max_retries >= 0), 
	CONSTRAINT quality_score_bounds CHECK (quality_score IS NULL OR (quality_score >= 0.0 AND quality_score <= 10.0)), 
	CONSTRAINT completion_after_start CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at), 
	FOREIGN KEY(parent_task_id) REFERENCES tasks (id)
);

CREATE INDEX idx_tasks_agent_status ON tasks (assigned_agent_id, status);

CREATE INDEX idx_tasks_due_date ON tasks (due_date);

CREATE INDEX idx_tasks_hierarchy ON tasks (parent_task_id, status);

CREATE INDEX idx_tasks_namespace_status ON tasks (namespace, status);

CREATE INDEX idx_tasks_performance ON tasks (quality_score, actual_duration);

CREATE INDEX idx_tasks_priority_status ON tasks (priority, status);

CREATE INDEX idx_tasks_progress ON tasks (progress_percentage);

CREATE INDEX idx_tasks_retry ON tasks (retry_count, max_retries);

CREATE INDEX idx_tasks_scheduled ON tasks (scheduled_at);

CREATE INDEX idx_tasks_type_status ON tasks (task_type, status);

CREATE INDEX idx_tasks_workflow ON tasks (workflow_id, status);

CREATE INDEX ix_tasks_access_level ON tasks (access_level);

CREATE INDEX ix_tasks_agent_created ON tasks (assigned_agent_id, created_at);

CREATE INDEX ix_tasks_assigned_agent_id ON tasks (assigned_agent_id);

CREATE INDEX ix_tasks_namespace ON tasks (namespace);

CREATE INDEX ix_tasks_namespace_created ON tasks (namespace, created_at);

CREATE INDEX ix_tasks_priority ON tasks (priority);

CREATE INDEX ix_tasks_status ON tasks (status);

CREATE INDEX ix_tasks_task_type ON tasks (task_type);

CREATE INDEX ix_tasks_workflow_id ON tasks (workflow_id);

CREATE TABLE users (
	username VARCHAR(64) NOT NULL, 
	email VARCHAR(255) NOT NULL, 
	full_name VARCHAR(255), 
	password_hash TEXT NOT NULL, 
	failed_login_attempts INTEGER NOT NULL, 
	last_failed_login_at DATETIME, 
	last_login_at DATETIME, 
	last_login_ip VARCHAR(45), 
	status VARCHAR(9) NOT NULL, 
	roles JSON NOT NULL, 
	permissions JSON NOT NULL, 
	mfa_enabled BOOLEAN NOT NULL, 
	mfa_secret TEXT, 
	backup_codes JSON, 
	force_password_change BOOLEAN NOT NULL, 
	password_changed_at DATETIME, 
	session_timeout_minutes INTEGER NOT NULL, 
	preferred_agent_id TEXT, 
	agent_namespace TEXT NOT NULL, 
	created_by VARCHAR(64), 
	last_modified_by VARCHAR(64), 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_user_email_status ON users (email, status);

CREATE INDEX ix_user_namespace ON users (agent_namespace);

CREATE INDEX ix_user_status_active ON users (status, last_login_at);

CREATE UNIQUE INDEX ix_users_email ON users (email);

CREATE INDEX ix_users_last_login_at ON users (last_login_at);

CREATE INDEX ix_users_status ON users (status);

CREATE UNIQUE INDEX ix_users_username ON users (username);

CREATE TABLE workflows (
	name TEXT NOT NULL, 
	description TEXT NOT NULL, 
	workflow_type VARCHAR(11) NOT NULL, 
	status VARCHAR(9) NOT NULL, 
	steps JSON NOT NULL, 
	current_step_index INTEGER DEFAULT 0 NOT NULL, 
	execution_count INTEGER DEFAULT 0 NOT NULL, 
	started_at DATETIME, 
	completed_at DATETIME, 
	last_executed_at DATETIME, 
	error_message TEXT, 
	failed_step_index INTEGER, 
	created_by TEXT, 
	tags JSON NOT NULL, 
	config JSON NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_workflow_created_by_status ON workflows (created_by, status);

CREATE INDEX ix_workflow_status_type ON workflows (status, workflow_type);

CREATE INDEX ix_workflows_completed_at ON workflows (completed_at);

CREATE INDEX ix_workflows_created_by ON workflows (created_by);

CREATE INDEX ix_workflows_last_executed_at ON workflows (last_executed_at);

CREATE INDEX ix_workflows_name ON workflows (name);

CREATE INDEX ix_workflows_started_at ON workflows (started_at);

CREATE INDEX ix_workflows_status ON workflows (status);

CREATE INDEX ix_workflows_workflow_type ON workflows (workflow_type);

CREATE TABLE api_keys (
	key_id VARCHAR(32) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	description TEXT, 
	key_hash TEXT NOT NULL, 
	key_prefix VARCHAR(8) NOT NULL, 
	scopes JSON NOT NULL, 
	allowed_ips JSON, 
	rate_limit_per_hour INTEGER, 
	is_active BOOLEAN NOT NULL, 
	expires_at DATETIME, 
	last_used_at DATETIME, 
	last_used_ip VARCHAR(45), 
	total_requests INTEGER NOT NULL, 
	user_id VARCHAR(36) NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_api_key_active ON api_keys (is_active, expires_at);

CREATE INDEX ix_api_key_prefix ON api_keys (key_prefix);

CREATE INDEX ix_api_key_user_active ON api_keys (user_id, is_active);

CREATE INDEX ix_api_keys_expires_at ON api_keys (expires_at);

CREATE INDEX ix_api_keys_is_active ON api_keys (is_active);

CREATE UNIQUE INDEX ix_api_keys_key_id ON api_keys (key_id);

CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

CREATE TABLE license_key_usage (
	id CHAR(32) NOT NULL, 
	license_key_id CHAR(32) NOT NULL, 
	used_at DATETIME NOT NULL, 
	feature_accessed VARCHAR(128), 
	usage_metadata TEXT, 
	PRIMARY KEY (id), 
	FOREIGN KEY(license_key_id) REFERENCES license_keys (id) ON DELETE CASCADE
);

CREATE INDEX idx_license_key_usage_feature ON license_key_usage (license_key_id, feature_accessed);

CREATE INDEX idx_license_key_usage_time ON license_key_usage (license_key_id, used_at);

CREATE INDEX ix_license_key_usage_license_key_id ON license_key_usage (license_key_id);

CREATE TABLE memory_consolidations (
	source_memory_ids JSON NOT NULL, 
	consolidated_memory_id VARCHAR(36) NOT NULL, 
	consolidation_type TEXT NOT NULL, 
	agent_id TEXT NOT NULL, 
	consolidation_metadata JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(consolidated_memory_id) REFERENCES memories (id)
);

CREATE INDEX ix_memory_consolidations_agent_id ON memory_consolidations (agent_id);

CREATE INDEX ix_memory_consolidations_consolidated_memory_id ON memory_consolidations (consolidated_memory_id);

CREATE TABLE memory_sharing (
	memory_id VARCHAR(36) NOT NULL, 
	shared_with_agent_id TEXT NOT NULL, 
	permission TEXT NOT NULL, 
	shared_by_agent_id TEXT NOT NULL, 
	shared_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (memory_id, shared_with_agent_id, id), 
	FOREIGN KEY(memory_id) REFERENCES memories (id)
);

CREATE INDEX ix_sharing_agent ON memory_sharing (shared_with_agent_id, shared_at);

CREATE INDEX ix_sharing_expires ON memory_sharing (expires_at);

CREATE TABLE pattern_usage_history (
	pattern_id VARCHAR(36) NOT NULL, 
	agent_id TEXT, 
	used_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	execution_time FLOAT, 
	success BOOLEAN, 
	context_data JSON, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(pattern_id) REFERENCES learning_patterns (id) ON DELETE CASCADE
);

CREATE INDEX idx_pattern_usage_history_agent_time ON pattern_usage_history (agent_id, used_at);

CREATE INDEX idx_pattern_usage_history_pattern_time ON pattern_usage_history (pattern_id, used_at);

CREATE INDEX ix_pattern_usage_history_agent_id ON pattern_usage_history (agent_id);

CREATE INDEX ix_pattern_usage_history_pattern_id ON pattern_usage_history (pattern_id);

CREATE TABLE refresh_tokens (
	token_id VARCHAR(64) NOT NULL, 
	token_hash TEXT NOT NULL, 
	expires_at DATETIME NOT NULL, 
	is_revoked BOOLEAN NOT NULL, 
	last_used_at DATETIME, 
	user_id VARCHAR(36) NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX ix_refresh_token_user ON refresh_tokens (user_id, is_revoked);

CREATE INDEX ix_refresh_token_valid ON refresh_tokens (is_revoked, expires_at);

CREATE INDEX ix_refresh_tokens_expires_at ON refresh_tokens (expires_at);

CREATE INDEX ix_refresh_tokens_is_revoked ON refresh_tokens (is_revoked);

CREATE UNIQUE INDEX ix_refresh_tokens_token_id ON refresh_tokens (token_id);

CREATE INDEX ix_refresh_tokens_user_id ON refresh_tokens (user_id);

CREATE TABLE skills (
	name VARCHAR(255) NOT NULL, 
	display_name VARCHAR(255), 
	description TEXT, 
	namespace VARCHAR(255) NOT NULL, 
	created_by VARCHAR(36) NOT NULL, 
	persona VARCHAR(50), 
	access_level VARCHAR(7) NOT NULL, 
	tags_json TEXT DEFAULT '[]' NOT NULL, 
	version_count INTEGER DEFAULT '1' NOT NULL, 
	active_version INTEGER DEFAULT '1' NOT NULL, 
	is_deleted BOOLEAN DEFAULT '0' NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(created_by) REFERENCES agents (id) ON DELETE CASCADE
);

CREATE INDEX ix_skills_created_by ON skills (created_by);

CREATE INDEX ix_skills_is_deleted ON skills (is_deleted);

CREATE INDEX ix_skills_namespace ON skills (namespace);

CREATE UNIQUE INDEX ix_skills_namespace_name ON skills (namespace, name);

CREATE INDEX ix_skills_persona ON skills (persona);

CREATE TABLE token_consumption (
	agent_id VARCHAR(36) NOT NULL, 
	window_hour VARCHAR(10) NOT NULL, 
	consumption_count INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (agent_id, window_hour), 
	FOREIGN KEY(agent_id) REFERENCES agents (id) ON DELETE CASCADE
);

CREATE TABLE tool_dependencies (
	tool_id VARCHAR(36) NOT NULL, 
	depends_on_tool_id VARCHAR(36) NOT NULL, 
	dependency_type VARCHAR(50) NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tool_id) REFERENCES discovered_tools (id) ON DELETE CASCADE, 
	FOREIGN KEY(depends_on_tool_id) REFERENCES discovered_tools (id) ON DELETE CASCADE
);

CREATE INDEX idx_tool_dependencies_tool_id ON tool_dependencies (tool_id);

CREATE INDEX ix_tool_dependencies_depends_on_tool_id ON tool_dependencies (depends_on_tool_id);

CREATE TABLE tool_instances (
	tool_id VARCHAR(36) NOT NULL, 
	instance_id VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	container_id VARCHAR(100), 
	container_name VARCHAR(100), 
	host VARCHAR(100), 
	port INTEGER, 
	cpu_limit VARCHAR(20), 
	memory_limit VARCHAR(20), 
	started_at DATETIME, 
	stopped_at DATETIME, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	metadata JSON DEFAULT '{}' NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tool_id) REFERENCES discovered_tools (id) ON DELETE CASCADE
);

CREATE INDEX idx_tool_instances_tool_status ON tool_instances (tool_id, status);

CREATE UNIQUE INDEX ix_tool_instances_instance_id ON tool_instances (instance_id);

CREATE INDEX ix_tool_instances_status ON tool_instances (status);

CREATE INDEX ix_tool_instances_tool_id ON tool_instances (tool_id);

CREATE TABLE tool_verification_history (
	tool_id VARCHAR(36) NOT NULL, 
	verified_at DATETIME NOT NULL, 
	success BOOLEAN NOT NULL, 
	verification_method VARCHAR(50) NOT NULL, 
	error_message TEXT, 
	verification_metadata JSON NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(tool_id) REFERENCES discovered_tools (id) ON DELETE CASCADE
);

CREATE INDEX idx_tool_verification_success ON tool_verification_history (success);

CREATE INDEX idx_tool_verification_tool_time ON tool_verification_history (tool_id, verified_at);

CREATE INDEX ix_tool_verification_history_tool_id ON tool_verification_history (tool_id);

CREATE INDEX ix_tool_verification_history_verified_at ON tool_verification_history (verified_at);

CREATE TABLE verification_records (
	agent_id VARCHAR(64) NOT NULL, 
	claim_type VARCHAR(64) NOT NULL, 
	claim_content JSON NOT NULL, 
	verification_command TEXT NOT NULL, 
	verification_result JSON NOT NULL, 
	accurate BOOLEAN NOT NULL, 
	evidence_memory_id VARCHAR(36), 
	verified_at DATETIME NOT NULL, 
	verified_by_agent_id VARCHAR(64), 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT fk_verification_agent FOREIGN KEY(agent_id) REFERENCES agents (agent_id), 
	CONSTRAINT fk_verification_evidence FOREIGN KEY(evidence_memory_id) REFERENCES memories (id)
);

CREATE INDEX ix_verification_records_accurate ON verification_records (accurate);

CREATE INDEX ix_verification_records_agent_id ON verification_records (agent_id);

CREATE INDEX ix_verification_records_claim_type ON verification_records (claim_type);

CREATE INDEX ix_verification_records_evidence_memory_id ON verification_records (evidence_memory_id);

CREATE INDEX ix_verification_records_verified_at ON verification_records (verified_at);

CREATE TABLE workflow_executions (
	id VARCHAR(36) NOT NULL, 
	workflow_id VARCHAR(36) NOT NULL, 
	started_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	status VARCHAR(50) NOT NULL, 
	triggered_by VARCHAR(100), 
	trigger_type VARCHAR(50), 
	input_data JSON, 
	output_data JSON, 
	execution_time_seconds FLOAT, 
	cpu_time_seconds FLOAT, 
	memory_peak_mb FLOAT, 
	error_message TEXT, 
	error_details JSON, 
	retry_count INTEGER, 
	metadata_json JSON, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(workflow_id) REFERENCES workflows (id)
);

CREATE INDEX idx_workflow_executions_started_at ON workflow_executions (started_at);

CREATE INDEX idx_workflow_executions_status ON workflow_executions (status);

CREATE INDEX idx_workflow_executions_triggered_by ON workflow_executions (triggered_by);

CREATE INDEX idx_workflow_executions_workflow_id ON workflow_executions (workflow_id);

CREATE TABLE workflow_schedules (
	id VARCHAR(36) NOT NULL, 
	workflow_id VARCHAR(36) NOT NULL, 
	schedule_type VARCHAR(50) NOT NULL, 
	schedule_expression VARCHAR(200), 
	start_date DATETIME, 
	end_date DATETIME, 
	is_active INTEGER, 
	last_run_at DATETIME, 
	next_run_at DATETIME, 
	input_data JSON, 
	metadata_json JSON, 
	total_runs INTEGER, 
	successful_runs INTEGER, 
	failed_runs INTEGER, 
	created_at DATETIME, 
	updated_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(workflow_id) REFERENCES workflows (id)
);

CREATE INDEX idx_workflow_schedules_is_active ON workflow_schedules (is_active);

CREATE INDEX idx_workflow_schedules_next_run_at ON workflow_schedules (next_run_at);

CREATE INDEX idx_workflow_schedules_workflow_id ON workflow_schedules (workflow_id);

CREATE TABLE skill_activations (
	skill_id VARCHAR(36) NOT NULL, 
	agent_id VARCHAR(36) NOT NULL, 
	version INTEGER NOT NULL, 
	namespace VARCHAR(255) NOT NULL, 
	activation_type VARCHAR(20), 
	layer_loaded INTEGER, 
	tokens_loaded INTEGER, 
	activated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	duration_ms INTEGER, 
	success BOOLEAN, 
	error_message TEXT, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(skill_id) REFERENCES skills (id) ON DELETE CASCADE, 
	FOREIGN KEY(agent_id) REFERENCES agents (id) ON DELETE CASCADE
);

CREATE INDEX ix_skill_activations_activated_at ON skill_activations (activated_at);

CREATE INDEX ix_skill_activations_agent_id ON skill_activations (agent_id);

CREATE INDEX ix_skill_activations_agent_time ON skill_activations (agent_id, activated_at);

CREATE INDEX ix_skill_activations_namespace ON skill_activations (namespace);

CREATE INDEX ix_skill_activations_skill_id ON skill_activations (skill_id);

CREATE TABLE skill_mcp_tools (
	skill_id VARCHAR(36) NOT NULL, 
	mcp_server_name VARCHAR(255), 
	tool_name VARCHAR(255), 
	detail_level VARCHAR(20) DEFAULT 'summary' NOT NULL, 
	load_when_condition TEXT, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(skill_id) REFERENCES skills (id) ON DELETE CASCADE
);

CREATE INDEX ix_skill_mcp_tools_skill_id ON skill_mcp_tools (skill_id);

CREATE TABLE skill_memory_filters (
	skill_id VARCHAR(36) NOT NULL, 
	filter_type VARCHAR(50) NOT NULL, 
	filter_value TEXT NOT NULL, 
	priority INTEGER DEFAULT '0' NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(skill_id) REFERENCES skills (id) ON DELETE CASCADE
);

CREATE INDEX ix_skill_memory_filters_priority ON skill_memory_filters (priority);

CREATE INDEX ix_skill_memory_filters_skill_id ON skill_memory_filters (skill_id);

CREATE TABLE skill_shared_agents (
	skill_id VARCHAR(36) NOT NULL, 
	agent_id VARCHAR(36) NOT NULL, 
	shared_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(skill_id) REFERENCES skills (id) ON DELETE CASCADE, 
	FOREIGN KEY(agent_id) REFERENCES agents (id) ON DELETE CASCADE
);

CREATE INDEX ix_skill_shared_agents_agent_id ON skill_shared_agents (agent_id);

CREATE UNIQUE INDEX ix_skill_shared_agents_skill_agent ON skill_shared_agents (skill_id, agent_id);

CREATE INDEX ix_skill_shared_agents_skill_id ON skill_shared_agents (skill_id);

CREATE TABLE skill_versions (
	skill_id VARCHAR(36) NOT NULL, 
	version INTEGER NOT NULL, 
	content TEXT NOT NULL, 
	metadata_json TEXT, 
	core_instructions TEXT, 
	auxiliary_content TEXT, 
	content_hash VARCHAR(64), 
	created_by VARCHAR(36) NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(skill_id) REFERENCES skills (id) ON DELETE CASCADE, 
	FOREIGN KEY(created_by) REFERENCES agents (id)
);

CREATE INDEX ix_skill_versions_created_by ON skill_versions (created_by);

CREATE INDEX ix_skill_versions_skill_id ON skill_versions (skill_id);

CREATE UNIQUE INDEX ix_skill_versions_skill_version ON skill_versions (skill_id, version);

CREATE TABLE trust_score_history (
	agent_id VARCHAR(64) NOT NULL, 
	old_score FLOAT NOT NULL, 
	new_score FLOAT NOT NULL, 
	verification_record_id VARCHAR(36), 
	reason VARCHAR(255) NOT NULL, 
	changed_at DATETIME NOT NULL, 
	id VARCHAR(36) NOT NULL, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT fk_trust_history_agent FOREIGN KEY(agent_id) REFERENCES agents (agent_id), 
	CONSTRAINT fk_trust_history_verification FOREIGN KEY(verification_record_id) REFERENCES verification_records (id)
);

CREATE INDEX ix_trust_score_history_agent_id ON trust_score_history (agent_id);

CREATE INDEX ix_trust_score_history_changed_at ON trust_score_history (changed_at);

CREATE INDEX ix_trust_score_history_verification_record_id ON trust_score_history (verification_record_id);

CREATE TABLE workflow_step_executions (
	id VARCHAR(36) NOT NULL, 
	workflow_execution_id VARCHAR(36) NOT NULL, 
	step_name VARCHAR(200) NOT NULL, 
	step_index INTEGER NOT NULL, 
	step_type VARCHAR(50), 
	started_at DATETIME NOT NULL, 
	completed_at DATETIME, 
	status VARCHAR(50) NOT NULL, 
	input_data JSON, 
	output_data JSON, 
	execution_time_seconds FLOAT, 
	error_message TEXT, 
	error_details JSON, 
	retry_count INTEGER, 
	metadata_json JSON, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(workflow_execution_id) REFERENCES workflow_executions (id)
);

CREATE INDEX idx_step_executions_status ON workflow_step_executions (status);

CREATE INDEX idx_step_executions_step_name ON workflow_step_executions (step_name);

CREATE INDEX idx_step_executions_workflow_execution_id ON workflow_step_executions (workflow_execution_id);

CREATE TABLE workflow_execution_logs (
	id VARCHAR(36) NOT NULL, 
	workflow_execution_id VARCHAR(36) NOT NULL, 
	step_execution_id VARCHAR(36), 
	timestamp DATETIME NOT NULL, 
	level VARCHAR(20) NOT NULL, 
	message TEXT NOT NULL, 
	component VARCHAR(100), 
	function VARCHAR(100), 
	line_number INTEGER, 
	context_data JSON, 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id), 
	FOREIGN KEY(workflow_execution_id) REFERENCES workflow_executions (id), 
	FOREIGN KEY(step_execution_id) REFERENCES workflow_step_executions (id)
);

CREATE INDEX idx_execution_logs_level ON workflow_execution_logs (level);

CREATE INDEX idx_execution_logs_timestamp ON workflow_execution_logs (timestamp);

CREATE INDEX idx_execution_logs_workflow_execution_id ON workflow_execution_logs (workflow_execution_id);

CREATE INDEX ix_workflow_execution_logs_step_execution_id ON workflow_execution_logs (step_execution_id);

